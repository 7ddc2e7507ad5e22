// MathJax 3 configuration (served from docs/assets/vendor/mathjax/, no CDN).
//
// Two kinds of math on this site:
//   * Markdown pages: pymdownx.arithmatex (generic) wraps math in .arithmatex as \( \) and \[ \];
//   * notebook pages: mkdocs-jupyter leaves $...$ and $$...$$ as text in .jp-RenderedMarkdown,
//     spread over <p>, <li>, ... children.
// MathJax typesets those containers and nothing else, so a "$" anywhere else stays a dollar sign.
// (Material's usual recipe, ignoreHtmlClass ".*|" with processHtmlClass, only reaches text that is
// a direct child of the container, so it misses the paragraphs of a notebook cell.)
var RECNOTES_MATH = ".arithmatex, .jp-RenderedMarkdown";

window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"], ["$", "$"]],
    displayMath: [["\\[", "\\]"], ["$$", "$$"]],
    processEscapes: true,
    processEnvironments: true,
    tags: "ams", // \begin{equation} is numbered; \label{eq:x} and \eqref{eq:x} work
  },
  svg: {
    fontCache: "global", // glyphs are SVG paths: no font file is ever requested
  },
  startup: {
    typeset: false, // never the whole page: only the containers above
    pageReady: function () {
      return MathJax.startup.defaultPageReady().then(recnotesTypeset);
    },
  },
};

// Typeset the math containers that have not been typeset yet, in one pass so that equation
// numbers run through the page.
function recnotesTypeset() {
  var mj = window.MathJax;
  if (!mj || typeof mj.typesetPromise !== "function") {
    return Promise.resolve();
  }
  var fresh = Array.prototype.filter.call(document.querySelectorAll(RECNOTES_MATH), function (el) {
    return !el.hasAttribute("data-recnotes-math");
  });
  if (fresh.length === 0) {
    return Promise.resolve();
  }
  fresh.forEach(function (el) {
    el.setAttribute("data-recnotes-math", "");
  });
  mj.texReset();
  return mj.typesetPromise(fresh);
}

// Material emits document$ on every page load (and on every content swap, were instant loading
// on). Before MathJax is ready there is nothing to do: its pageReady above typesets the first page.
document$.subscribe(function () {
  var mj = window.MathJax;
  if (mj && mj.startup && mj.startup.promise) {
    mj.startup.promise = mj.startup.promise.then(recnotesTypeset);
  }
});
