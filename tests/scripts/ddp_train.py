"""Train the toy ranker on fixed data; write the final weights. Run alone or under torchrun.

Usage: python ddp_train.py OUT.pt   |   torchrun --nproc_per_node=2 ddp_train.py OUT.pt
"""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from toy_models import TOY_SCHEMA, ToyRanker, ToyRankerConfig  # noqa: E402

from recnotes.data import FeatureTable  # noqa: E402
from recnotes.train import TrainConfig, Trainer, seed_everything  # noqa: E402


def main(out: str) -> None:
    gen = torch.Generator().manual_seed(1)
    users = torch.randint(1, 8, (512,), generator=gen)
    items = torch.randint(1, 6, (512,), generator=gen)
    label = ((users + items) % 2).float()
    table = FeatureTable({"user_ids": users, "item_ids": items, "label": label}, TOY_SCHEMA)
    seed_everything(0)
    model = ToyRanker(TOY_SCHEMA, ToyRankerConfig(embed_dim=4))
    config = TrainConfig(epochs=3, batch_size=64, lr=0.05, progress=False, device="cpu", drop_last=True)
    trainer = Trainer(model, config)
    history = trainer.fit(table)
    if trainer.is_main:
        torch.save({"state": model.state_dict(), "loss": history.epochs[-1]["train_loss"]}, out)
    if trainer.world_size > 1:
        import torch.distributed as dist

        dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
