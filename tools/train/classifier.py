"""Small Fashion-MNIST CNN used as the evaluator (class accuracy + features for FID-on-features)."""
import numpy as np
import torch
import torch.nn as nn

FEATURE_DIM = 64


class Classifier(nn.Module):
    """Input [B,1,28,28] in [-1,1]. forward -> (logits [B,10], features [B,64]).

    features = ReLU(BatchNorm1d(Linear(flatten(conv trunk)))), logits = Linear(features).
    """

    def __init__(self):
        super().__init__()

        def block(cin, cout):
            return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]

        self.trunk = nn.Sequential(
            *block(1, 32), nn.MaxPool2d(2),  # 14
            *block(32, 64), nn.MaxPool2d(2),  # 7
            *block(64, 64),
            nn.Flatten(), nn.Dropout(0.25),
        )
        self.fc = nn.Linear(64 * 7 * 7, FEATURE_DIM, bias=False)
        self.bn = nn.BatchNorm1d(FEATURE_DIM)
        self.drop = nn.Dropout(0.25)
        self.head = nn.Linear(FEATURE_DIM, 10)

    def forward(self, x):
        f = torch.relu(self.bn(self.fc(self.trunk(x))))
        return self.head(self.drop(f)), f


def frechet_distance(mu1, cov1, mu2, cov2) -> float:
    """||mu1-mu2||^2 + tr(C1) + tr(C2) - 2 tr((C1 C2)^{1/2}), in float64.

    tr((C1 C2)^{1/2}) is computed as the sum of sqrt of the (clamped >= 0) eigenvalues of the
    symmetric PSD matrix S C2 S with S = C1^{1/2} (from a symmetric eigendecomposition of C1),
    which has the same eigenvalues as C1 C2.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    cov1, cov2 = np.asarray(cov1, np.float64), np.asarray(cov2, np.float64)
    w, v = np.linalg.eigh(cov1)
    s = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    m = s @ cov2 @ s
    ev = np.linalg.eigvalsh((m + m.T) / 2)
    tr_sqrt = np.sqrt(np.clip(ev, 0, None)).sum()
    d = mu1 - mu2
    return float(d @ d + np.trace(cov1) + np.trace(cov2) - 2 * tr_sqrt)


def feature_stats(features: np.ndarray):
    """Mean and unbiased covariance (divide by N-1), float64, of features [N,F]."""
    f = np.asarray(features, np.float64)
    return f.mean(0), np.cov(f, rowvar=False, ddof=1)
