"""The ``rq:`` section of the config as typed settings (defaults = config/config.yaml)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from prefcal.rq.synthetic import SyntheticConfig

__all__ = ["NullSettings", "PowerSettings", "RQSettings"]


@dataclass(frozen=True)
class NullSettings:
    """H1 false-positive study: replications of a study whose recommender ignores preferences."""

    n_replications: int = 1000
    n_users: int = 100
    snapshots_per_user: float = 20.0
    n_permutations: int = 999


@dataclass(frozen=True)
class PowerSettings:
    """H1 power curves over the number of participants and the alignment strength."""

    n_users: tuple[int, ...] = (5, 10, 20, 50, 100, 200, 500)
    alignment: tuple[float, ...] = (0.0, 0.05, 0.1, 0.2, 0.4)
    n_replications: int = 200
    n_permutations: int = 499
    snapshots_per_user: float = 20.0


@dataclass(frozen=True)
class RQSettings:
    """Every choice of the RQ analysis (config keys ``rq.*``; ``seed`` is the study's root seed)."""

    seed: int = 0
    ll_floor: float = 1e-3
    n_permutations: int = 2000
    n_bootstrap: int = 2000
    ci_level: float = 0.95
    alpha: float = 0.05
    fdr: float = 0.05
    h4_diversity: str = "entropy"
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)
    synthetic_alignment: float = 0.5
    n_taste_types: int = 12
    attribution_replications: int = 4
    attribution_method: str = "combined"
    home_attribution_replications: int = 6
    h6_window_days: int = 90
    h6_max_users: int = 2000
    mixed_max_users: int = 2000
    home_max_users: int = 2000
    attribution_max_users: int = 20000
    null_study: NullSettings = field(default_factory=NullSettings)
    power: PowerSettings = field(default_factory=PowerSettings)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> RQSettings:
        """Settings from a validated study config (top-level ``seed`` and the ``rq`` section)."""
        if "rq" not in config:
            raise KeyError("config has no 'rq' section (see config/config.yaml)")
        rq = config["rq"]
        syn = rq["synthetic"]
        synthetic = replace(
            SyntheticConfig(),
            n_users=int(syn["n_users"]),
            snapshots_per_user=float(syn["snapshots_per_user"]),
            slate_size=(int(syn["slate_size"][0]), int(syn["slate_size"][1])),
        )
        null = rq["null_study"]
        power = rq["power"]
        return cls(
            seed=int(config.get("seed", 0)),
            ll_floor=float(rq["ll_floor"]),
            n_permutations=int(rq["n_permutations"]),
            n_bootstrap=int(rq["n_bootstrap"]),
            ci_level=float(rq["ci_level"]),
            alpha=float(rq["alpha"]),
            fdr=float(rq["fdr"]),
            h4_diversity=str(rq["h4_diversity"]),
            synthetic=synthetic,
            synthetic_alignment=float(syn["alignment"]),
            n_taste_types=int(syn["n_taste_types"]),
            attribution_replications=int(rq["attribution"]["n_replications"]),
            attribution_method=str(rq["attribution"].get("method", "combined")),
            home_attribution_replications=int(rq["attribution"].get("home_replications", 6)),
            h6_window_days=int(rq.get("h6", {}).get("window_days", 90)),
            h6_max_users=int(rq.get("h6", {}).get("max_users", 2000)),
            mixed_max_users=int(rq.get("mixed_max_users", 2000)),
            home_max_users=int(rq["attribution"].get("home_max_users", 2000)),
            attribution_max_users=int(rq["attribution"].get("max_users", 20000)),
            null_study=NullSettings(
                n_replications=int(null["n_replications"]),
                n_users=int(null["n_users"]),
                snapshots_per_user=float(null["snapshots_per_user"]),
                n_permutations=int(null["n_permutations"]),
            ),
            power=PowerSettings(
                n_users=tuple(int(x) for x in power["n_users"]),
                alignment=tuple(float(x) for x in power["alignment"]),
                n_replications=int(power["n_replications"]),
                n_permutations=int(power["n_permutations"]),
                snapshots_per_user=float(power["snapshots_per_user"]),
            ),
        )

    def taste_config(self) -> SyntheticConfig:
        """The synthetic config for the taste dimension (clusters ``c0 .. c{k-1}``)."""
        return self.synthetic.with_types(tuple(f"c{i}" for i in range(self.n_taste_types)))

    def null_config(self) -> SyntheticConfig:
        """The synthetic config of the H1 false-positive study (``rq.null_study`` sizes)."""
        return replace(
            self.synthetic,
            n_users=self.null_study.n_users,
            snapshots_per_user=self.null_study.snapshots_per_user,
        )

    def power_config(self) -> SyntheticConfig:
        """The synthetic config of the power study (``n_users`` is set per grid point)."""
        return replace(self.synthetic, snapshots_per_user=self.power.snapshots_per_user)
