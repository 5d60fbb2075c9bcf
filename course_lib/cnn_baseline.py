"""Chapter 7's baseline with a locality bias: a small CNN to set against the ViT (no attention)."""

from __future__ import annotations

from torch import Tensor, nn


class SmallCNN(nn.Module):
    """The baseline with a locality bias: two 3×3 conv blocks (conv → BatchNorm → ReLU → 2×2
    max-pool), global average pool, linear head. (B, C, H, W) → (B, n_classes)."""

    def __init__(self, in_channels: int = 1, n_classes: int = 10, width: int = 32):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.BatchNorm2d(2 * width),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.head = nn.Linear(2 * width, n_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x).mean(dim=(2, 3)))
