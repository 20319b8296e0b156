"""The cost of producing one bitcoin, by several models, point in time, and the below-cost rule.

Units: power price p in USD per kWh, efficiency eps in J/TH (= W per TH/s), hashrate H in TH/s,
difficulty D dimensionless (expected hashes per block = D * 2^32), block subsidy R in BTC, costs in
USD per BTC. Formulas and test vectors: shared reference models.md §1.

**BTC mined per day.** By default costs per BTC divide by the block subsidy issued (models.md's
convention): transaction fees are left out, which overstates the cost and over-counts below-cost
days (`FEES_BIAS_NOTE`). With ``include_fees`` the divisor is subsidy plus fees (the panel's
``fees_btc``, a cache-only source: `data.overlay`); where fees are unknown the cost is unknown,
never silently subsidy-only.

Models (each a pure function of panel columns and assumptions; the value on day d uses rows <= d):

* ``electricity`` (JPMorgan / CBECI style, §1a):
  C = H * eps * 24/1000 * PUE * p / (BTC issued per day), on trailing ``smooth_days`` sums of
  energy cost and issuance. Because the daily hashrate estimate is blocks * D * 2^32 / 86400,
  this equals Hayes' formula with the window's mean difficulty: block-count noise cancels.
* ``hayes`` (Hayes 2015/2017, §1b): P* = p * eps * D * 2^32 / (3.6e18 * R), times PUE.
* ``all_in`` (§1c): electricity * opex_multiplier + capex per BTC, with
  capex = hardware_usd_per_th * H / (depreciation_years * 365) / (BTC issued per day).
* ``difficulty_regression`` (Checkonchain / Glassnode, §1d): ln(market cap) = A + B ln(D), refitted
  every day on an expanding window of days <= d (running sums, so O(n)); model price =
  exp(A + B ln D) / supply. No full-sample fit anywhere.
* ``external``: dated analyst estimates from a CSV: the latest published on or before d, with its
  source and publication day, unknown once older than ``estimate_max_age_days`` (default 90).

Also: hashprice and hashcost in USD per TH per day (§1e) and the breakeven power price they imply;
a P10/P50/P90 cost band across distributions of the assumptions; the ``below_cost`` rule (price /
cost below an entry ratio, optionally for n days, exit above an exit ratio) with hash ribbons
(§1f) as an optional confirmation.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from costbt.signals.conditions import as_rule, crossed_above, fired_within, held_for
from costbt.signals.fleet_efficiency import EfficiencyTimeline, fleet_efficiency
from costbt.signals.output import SignalOutput
from costbt.signals.params import Validated, param

TWO_32 = 2.0**32
J_PER_KWH = 3.6e6
MODELS = ("electricity", "hayes", "all_in", "difficulty_regression", "external")
#: The bias of the default (fees excluded), stated wherever costs are shown without fees.
FEES_BIAS_NOTE = (
    "costs per BTC count the block subsidy only; transaction fees (typically about 1-10 % of "
    "miner revenue since 2016, more than 20 % in fee spikes such as December 2017, May 2023 and "
    "the April 2024 halving week) are excluded, so costs are overstated and below-cost days "
    "over-counted"
)
#: Models whose value depends on power price, efficiency and PUE (and so have a cost band).
ASSUMPTION_MODELS = ("electricity", "hayes", "all_in")
#: Models computed from the chain inputs (hash rate, difficulty, subsidy, supply): unknown on
#: every day those are (after the bundled chain's last day, 2026-02-12, unless the download
#: cache extends it: `data.overlay`); never carried forward.
CHAIN_MODELS = ("electricity", "hayes", "all_in", "difficulty_regression")


@dataclass(frozen=True)
class CostAssumptions(Validated):
    """What a miner pays and how efficient the fleet is (the swept assumption parameters)."""

    power_price: float = param(
        0.05,
        low=0.01,
        high=0.19,
        step=0.005,
        unit="USD per kWh",
        help="electricity price paid by miners",
    )
    efficiency_scale: float = param(
        1.0,
        low=0.5,
        high=1.5,
        step=0.05,
        unit="multiplier",
        help="scales the fleet-efficiency timeline (1 = as estimated)",
    )
    pue: float = param(
        1.1,
        low=1.0,
        high=1.5,
        step=0.05,
        unit="ratio",
        help="power usage effectiveness (cooling, losses)",
    )
    fleet_lag_days: int = param(
        1095,
        low=365,
        high=1825,
        step=91,
        unit="days",
        help="fleet trails the frontier by this much",
    )
    opex_multiplier: float = param(
        1.2,
        low=1.0,
        high=2.0,
        step=0.05,
        unit="multiplier",
        help="all-in: other cash costs over power",
    )
    hardware_usd_per_th: float = param(
        20.0, low=5.0, high=60.0, step=2.5, unit="USD per TH/s", help="all-in: fleet hardware cost"
    )
    depreciation_years: float = param(
        3.0, low=1.0, high=6.0, step=0.5, unit="years", help="all-in: straight-line life"
    )
    smooth_days: int = param(
        7, low=1, high=60, unit="days", help="trailing window of hashrate and issuance"
    )
    include_fees: bool = param(
        False,
        unit="flag",
        help="divide by subsidy plus transaction fees (needs cached fee data), not subsidy only",
    )
    estimate_max_age_days: int = param(
        90,
        low=30,
        high=720,
        step=30,
        unit="days",
        help="external: an analyst estimate is current for this many days after publication",
    )


def assumption_parameters() -> tuple[str, ...]:
    """The cost model and every cost assumption (`CostAssumptions` fields): beliefs about the
    world, held fixed when a strategy is tuned unless the user asks to fit them."""
    from dataclasses import fields

    return ("model", *(f.name for f in fields(CostAssumptions)))


# ----------------------------------------------------------------------------- formulas


def electricity_cost_per_btc(
    hashrate_ths: pd.Series | float,
    efficiency_j_per_th: pd.Series | float,
    power_price_usd_kwh: float,
    btc_per_day: pd.Series | float,
    pue: float = 1.0,
) -> pd.Series | float:
    """C [USD/BTC] = H[TH/s] * eps[J/TH] * 24/1000 * PUE * p[USD/kWh] / BTC per day.

    H * eps is the network's power in W; * 24 / 1000 gives kWh per day.
    """
    return (
        hashrate_ths * efficiency_j_per_th * 24.0 / 1000.0 * pue * power_price_usd_kwh / btc_per_day
    )


def hayes_cost_per_btc(
    difficulty: pd.Series | float,
    efficiency_j_per_th: pd.Series | float,
    power_price_usd_kwh: float,
    block_reward_btc: pd.Series | float,
    pue: float = 1.0,
) -> pd.Series | float:
    """Hayes' marginal cost P* [USD/BTC] = p * eps * D * 2^32 / (3.6e18 * R) (times PUE).

    D * 2^32 hashes per block at eps J/TH = eps * D * 2^32 / 1e12 J per block; / 3.6e6 J/kWh;
    so 1e12 * 3.6e6 = 3.6e18.
    """
    return (
        power_price_usd_kwh
        * efficiency_j_per_th
        * difficulty
        * TWO_32
        / (3.6e18 * block_reward_btc)
        * pue
    )


def hashprice_usd_per_th_day(
    difficulty: pd.Series | float,
    reward_per_block_btc: pd.Series | float,
    price_usd: pd.Series | float,
) -> pd.Series | float:
    """Revenue of 1 TH/s for a day: 1e12 * 86400 / (D * 2^32) blocks * reward * price."""
    return 1e12 * 86400.0 / (difficulty * TWO_32) * reward_per_block_btc * price_usd


def hashcost_usd_per_th_day(
    efficiency_j_per_th: pd.Series | float, power_price_usd_kwh: float, pue: float = 1.0
):
    """Power cost of 1 TH/s for a day: eps * 24 / 1000 kWh * PUE * p."""
    return efficiency_j_per_th * 24.0 / 1000.0 * pue * power_price_usd_kwh


def breakeven_power_price(
    hashprice: pd.Series | float, efficiency_j_per_th: pd.Series | float, pue: float = 1.0
):
    """Power price (USD/kWh) at which hashcost equals hashprice."""
    return hashprice / (efficiency_j_per_th * 24.0 / 1000.0 * pue)


def expanding_loglog_fit(
    y: pd.Series, x: pd.Series, min_obs: int = 365
) -> tuple[pd.Series, pd.Series]:
    """OLS of ln(y) on ln(x) on every expanding window ending at each day; returns (A, B).

    Uses running sums, so the fit on day d sees only days <= d. NaN until ``min_obs`` valid days.
    """
    ly, lx = np.log(y), np.log(x)
    ok = ly.notna() & lx.notna() & np.isfinite(ly) & np.isfinite(lx)
    lyv, lxv = ly.where(ok, 0.0), lx.where(ok, 0.0)
    n = ok.astype(float).cumsum()
    sx, sy = lxv.cumsum(), lyv.cumsum()
    sxx, sxy = (lxv * lxv).cumsum(), (lxv * lyv).cumsum()
    var = sxx - sx * sx / n
    b = (sxy - sx * sy / n) / var
    a = (sy - b * sx) / n
    enough = n >= min_obs
    return a.where(enough), b.where(enough)


# ----------------------------------------------------------------------------- models on the panel


def _trailing_ratio(num: pd.Series, den: pd.Series, days: int) -> pd.Series:
    """sum(num) / sum(den) over the trailing ``days`` rows where both are known.

    Needs the day itself and at least half the window known (so a few missing chain days do not
    blank a week, and nothing is reported past the end of the data).
    """
    both = num.notna() & den.notna()
    if days <= 1:
        return (num / den).where(both)
    need = (days + 1) // 2
    n = num.where(both).rolling(days, min_periods=need).sum()
    d = den.where(both).rolling(days, min_periods=need).sum()
    return (n / d).where(both)  # no value on a day whose own inputs are missing


def btc_mined_per_day(panel: pd.DataFrame, a: CostAssumptions) -> pd.Series:
    """BTC a day's cost is spread over: issuance (subsidy), plus ``fees_btc`` with
    ``include_fees`` (NaN where fees are unknown, all NaN when the panel has no fee column)."""
    issuance = panel["issuance_btc"]
    if not a.include_fees:
        return issuance
    fees = panel["fees_btc"] if "fees_btc" in panel.columns else np.nan
    return (issuance + fees).rename("btc_mined_per_day")


def block_reward_btc(panel: pd.DataFrame, a: CostAssumptions) -> pd.Series:
    """Reward per block R (BTC): the subsidy, plus the day's mean fees per block
    (``fees_btc / blocks_per_day``) with ``include_fees`` (NaN where fees are unknown)."""
    subsidy = panel["block_subsidy_btc"]
    if not a.include_fees:
        return subsidy
    fees = panel["fees_btc"] if "fees_btc" in panel.columns else np.nan
    return (subsidy + fees / panel["blocks_per_day"]).rename("block_reward_btc")


def fleet_efficiency_for(
    panel: pd.DataFrame, a: CostAssumptions, timeline: EfficiencyTimeline | None = None
) -> pd.Series:
    """The fleet-efficiency timeline at the assumptions' power price, lag and scale (J/TH)."""
    tl = timeline or EfficiencyTimeline()
    tl = replace(tl, fleet_lag_days=a.fleet_lag_days)
    return fleet_efficiency(panel, a.power_price, tl) * a.efficiency_scale


def electricity_model(
    panel: pd.DataFrame, a: CostAssumptions, eff: pd.Series | None = None
) -> pd.Series:
    """Network electricity cost per BTC on trailing ``smooth_days`` sums (USD/BTC): energy cost
    over BTC mined (subsidy, plus fees with ``include_fees``: `btc_mined_per_day`)."""
    eff = fleet_efficiency_for(panel, a) if eff is None else eff
    usd_per_day = electricity_cost_per_btc(panel["hashrate_ths"], eff, a.power_price, 1.0, a.pue)
    btc = btc_mined_per_day(panel, a)
    return _trailing_ratio(usd_per_day, btc, a.smooth_days).rename("electricity")


def hayes_model(panel: pd.DataFrame, a: CostAssumptions, eff: pd.Series | None = None) -> pd.Series:
    """Hayes' marginal cost with the day's mean difficulty and reward per block (USD/BTC):
    R = subsidy, or subsidy + the day's mean fees per block with ``include_fees``."""
    eff = fleet_efficiency_for(panel, a) if eff is None else eff
    return hayes_cost_per_btc(
        panel["difficulty"], eff, a.power_price, block_reward_btc(panel, a), a.pue
    ).rename("hayes")


def all_in_model(
    panel: pd.DataFrame, a: CostAssumptions, eff: pd.Series | None = None
) -> pd.Series:
    """Electricity * opex multiplier + hardware depreciation per BTC (USD/BTC)."""
    elec = electricity_model(panel, a, eff)
    capex_per_day = a.hardware_usd_per_th * panel["hashrate_ths"] / (a.depreciation_years * 365.0)
    capex = _trailing_ratio(capex_per_day, btc_mined_per_day(panel, a), a.smooth_days)
    return (elec * a.opex_multiplier + capex).rename("all_in")


def difficulty_regression_model(panel: pd.DataFrame, min_obs: int = 365) -> pd.Series:
    """exp(A + B ln D) / supply with A, B refitted daily on days <= d (USD/BTC)."""
    mcap = panel["close_usd"] * panel["supply_btc"]
    d = panel["difficulty"]
    a, b = expanding_loglog_fit(mcap, d, min_obs=min_obs)
    return (np.exp(a + b * np.log(d)) / panel["supply_btc"]).rename("difficulty_regression")


DEFAULT_ESTIMATES = Path(__file__).resolve().parent / "reference" / "analyst_cost_estimates.csv"


def load_estimates(path: str | Path | None = None) -> pd.DataFrame:
    """Dated analyst estimates (validated; see `signals.estimates.ESTIMATES`)."""
    from costbt.data.schema import read_csv_checked
    from costbt.signals.estimates import ESTIMATES

    return read_csv_checked(Path(path) if path else DEFAULT_ESTIMATES, ESTIMATES)


def external_estimates(
    index: pd.DatetimeIndex,
    estimates: pd.DataFrame | None = None,
    source: str | None = None,
    max_age_days: int = 90,
) -> pd.DataFrame:
    """The latest analyst estimate published on or before each day, dated and aged.

    An estimate dated p (its publication day) is usable from row p. Columns: ``source``,
    ``published`` (day), ``age_days`` (d - p), ``latest_usd_per_btc`` (the estimate, however
    old), ``cost_usd_per_btc`` (the estimate while ``age_days <= max_age_days``, else NaN: an
    expired estimate is not presented as current) and ``expired``. Rows before the first
    estimate are NaN / None. ``source`` picks one publisher (default: all, the latest wins; on a
    day with several, the last row of the file).
    """
    est = load_estimates() if estimates is None else estimates
    if source is not None:
        est = est[est["source"] == source]
    latest = est.groupby(level=0).last()
    latest["published"] = latest.index
    days = pd.DatetimeIndex(index)
    held = latest.reindex(days, method="ffill") if len(latest) else latest.reindex(days)
    age = (days - pd.DatetimeIndex(held["published"])).days.to_numpy(dtype="float64")
    cost = held["cost_usd_per_btc"].astype("float64")
    expired = pd.Series(age > max_age_days, index=days)  # NaN age (no estimate yet): False
    return pd.DataFrame(
        {
            "source": held["source"].where(held["source"].notna(), None),
            "published": pd.DatetimeIndex(held["published"]),
            "age_days": age,
            "latest_usd_per_btc": cost,
            "cost_usd_per_btc": cost.where(~expired),
            "expired": expired,
        },
        index=days,
    )


def external_model(
    panel: pd.DataFrame,
    estimates: pd.DataFrame | None = None,
    source: str | None = None,
    max_age_days: int = 90,
) -> pd.Series:
    """The latest published estimate on or before each day while it is at most
    ``max_age_days`` old, else NaN (USD/BTC); see `external_estimates` for its source and age.
    """
    frame = external_estimates(panel.index, estimates, source, max_age_days)
    return frame["cost_usd_per_btc"].astype("float64").rename("external")


def hashprice_frame(
    panel: pd.DataFrame, a: CostAssumptions, eff: pd.Series | None = None
) -> pd.DataFrame:
    """Hashprice (reward = subsidy, plus fees with ``include_fees``), hashcost and breakeven
    power price."""
    eff = fleet_efficiency_for(panel, a) if eff is None else eff
    hp = hashprice_usd_per_th_day(
        panel["difficulty"], block_reward_btc(panel, a), panel["close_usd"]
    )
    hc = hashcost_usd_per_th_day(eff, a.power_price, a.pue)
    return pd.DataFrame(
        {
            "hashprice_usd_per_th_day": hp,
            "hashcost_usd_per_th_day": hc,
            "breakeven_power_usd_kwh": breakeven_power_price(hp, eff, a.pue),
        }
    )


def cost_model(
    panel: pd.DataFrame, a: CostAssumptions, model: str, eff: pd.Series | None = None
) -> pd.Series:
    """One model's cost per BTC (USD/BTC); ``eff`` is `fleet_efficiency_for` (computed if None).

    Passing ``eff`` lets a caller that evaluates many assumption sets (a tuning study) reuse the
    fleet-efficiency timeline, which depends only on the power price and the fleet lag.
    """
    if model not in MODELS:
        raise ValueError(f"unknown cost model '{model}' (known: {', '.join(MODELS)})")
    if model in ASSUMPTION_MODELS and eff is None:
        eff = fleet_efficiency_for(panel, a)
    if model == "electricity":
        return electricity_model(panel, a, eff)
    if model == "hayes":
        return hayes_model(panel, a, eff)
    if model == "all_in":
        return all_in_model(panel, a, eff)
    if model == "difficulty_regression":
        return difficulty_regression_model(panel)
    return external_model(panel, max_age_days=a.estimate_max_age_days)


def cost_models(
    panel: pd.DataFrame, a: CostAssumptions = CostAssumptions(), models: tuple[str, ...] = MODELS
) -> pd.DataFrame:
    """Every requested model's cost per BTC (USD/BTC), one column each."""
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise ValueError(f"unknown cost model '{unknown[0]}' (known: {', '.join(MODELS)})")
    eff = fleet_efficiency_for(panel, a) if set(models) & set(ASSUMPTION_MODELS) else None
    return pd.DataFrame({m: cost_model(panel, a, m, eff) for m in models}, index=panel.index)


# ----------------------------------------------------------------------------- cost band


@dataclass(frozen=True)
class Uniform:
    low: float
    high: float

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.uniform(self.low, self.high, n)


@dataclass(frozen=True)
class Triangular:
    low: float
    mode: float
    high: float

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.triangular(self.low, self.mode, self.high, n)


#: Default assumption distributions for the band: power 3-8 c/kWh (mode 5), fleet efficiency
#: -20 %/+25 % around the timeline, PUE 1.05-1.2.
DEFAULT_BAND = {
    "power_price": Triangular(0.03, 0.05, 0.08),
    "efficiency_scale": Triangular(0.8, 1.0, 1.25),
    "pue": Uniform(1.05, 1.2),
}


def cost_band(
    panel: pd.DataFrame,
    model: str = "electricity",
    base: CostAssumptions = CostAssumptions(),
    distributions: dict | None = None,
    draws: int = 200,
    seed: int = 0,
    quantiles: tuple[float, ...] = (0.1, 0.5, 0.9),
) -> pd.DataFrame:
    """P10/P50/P90 (by default) of a model's cost across random draws of its assumptions.

    Each draw replaces the named fields of ``base`` and re-runs the model on the whole panel; the
    quantiles are taken per day across draws, so each day's band uses only that day's inputs.
    Deterministic for a given ``seed``.
    """
    if model not in ASSUMPTION_MODELS:
        raise ValueError(
            f"a band needs an assumption-driven model ({', '.join(ASSUMPTION_MODELS)}), not '{model}'"
        )
    dists = DEFAULT_BAND if distributions is None else distributions
    rng = np.random.default_rng(seed)
    samples = {k: d.sample(rng, draws) for k, d in dists.items()}
    runs = []
    cache: dict[float, pd.Series] = {}
    for i in range(draws):
        a = replace(base, **{k: float(v[i]) for k, v in samples.items()})
        # The efficiency timeline depends on the power price only through CBECI: cache by price.
        key = round(a.power_price, 4)
        if key not in cache:
            cache[key] = fleet_efficiency_for(panel, replace(a, efficiency_scale=1.0))
        eff = cache[key] * a.efficiency_scale
        runs.append(_model(model, panel, a, eff).to_numpy())
    stack = np.vstack(runs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN days (no data): NaN band
        qs = np.nanquantile(stack, quantiles, axis=0)
    return pd.DataFrame(
        {f"p{int(round(q * 100))}": qs[i] for i, q in enumerate(quantiles)}, index=panel.index
    )


def _model(name: str, panel: pd.DataFrame, a: CostAssumptions, eff: pd.Series) -> pd.Series:
    return {"electricity": electricity_model, "hayes": hayes_model, "all_in": all_in_model}[name](
        panel, a, eff
    )


# ----------------------------------------------------------------------------- rules


def hash_ribbons(
    panel: pd.DataFrame, fast: int = 30, slow: int = 60, price_fast: int = 10, price_slow: int = 20
) -> SignalOutput:
    """Capriole's hash ribbons (models.md §1f), all trailing simple moving averages.

    Capitulation while SMA30(H) < SMA60(H); recovery the day SMA30 crosses back above; the buy
    fires on the first day after a recovery when SMA10(price) crosses above SMA20(price).
    """
    h = panel["hashrate_ths"]
    # Trailing means over the known days (at least 80 % of the window), so a few missing chain
    # days do not blank the ribbons for two months.
    f = h.rolling(fast, min_periods=int(0.8 * fast)).mean()
    s = h.rolling(slow, min_periods=int(0.8 * slow)).mean()
    known = f.notna() & s.notna() & h.notna()
    capitulation = as_rule(f < s, known)
    recovered = crossed_above(f - s, 0.0)
    pf = panel["close_usd"].rolling(price_fast, min_periods=price_fast).mean()
    ps = panel["close_usd"].rolling(price_slow, min_periods=price_slow).mean()
    price_cross = crossed_above(pf - ps, 0.0)
    # Armed from a recovery until the first price cross after it (state carried forward only).
    armed = np.zeros(len(h), dtype=bool)
    buy = np.zeros(len(h), dtype=bool)
    state = False
    rec = recovered.fillna(False).to_numpy(dtype=bool)
    cross = price_cross.fillna(False).to_numpy(dtype=bool)
    cap = capitulation.fillna(False).to_numpy(dtype=bool)
    for i in range(len(h)):
        if rec[i]:
            state = True
        if state and cross[i] and not cap[i]:
            buy[i] = True
            state = False
        armed[i] = state
    entry = as_rule(pd.Series(buy, index=h.index), known & pf.notna() & ps.notna())
    indicator = pd.DataFrame(
        {
            "hashrate_sma_fast": f,
            "hashrate_sma_slow": s,
            "capitulation": capitulation,
            "armed": armed,
        }
    )
    return SignalOutput("hash_ribbons", indicator, entry, capitulation)


@dataclass(frozen=True)
class BelowCostParams(CostAssumptions):
    """The below-cost rule: which model, when to enter and exit, plus the cost assumptions."""

    # A search draws only the models computed from the chain on every day: ``external`` is a
    # set of dated analyst estimates that expire (known on scattered spans), so a search that
    # could draw it would have to score every configuration on those spans alone.
    model: str = param(
        "electricity",
        choices=MODELS,
        search=tuple(m for m in MODELS if m != "external"),
        help="cost model (a search draws every model but external)",
    )
    entry_ratio: float = param(
        1.0,
        low=0.5,
        high=1.5,
        step=0.01,
        unit="price/cost",
        help="enter when price/cost is below this",
    )
    confirm_days: int = param(
        1, low=1, high=30, unit="days", help="...for this many consecutive days"
    )
    exit_ratio: float = param(
        1.5,
        low=1.0,
        high=4.0,
        step=0.05,
        unit="price/cost",
        help="exit when price/cost is above this",
    )
    ribbon_confirm_days: int = param(
        0,
        low=0,
        high=120,
        unit="days",
        help="also require a hash-ribbon buy within this many days (0: off)",
    )


def below_cost(panel: pd.DataFrame, params: BelowCostParams = BelowCostParams()) -> SignalOutput:
    """Entry when price/cost < entry_ratio for ``confirm_days`` days; exit when > exit_ratio.

    Unknown (<NA>) wherever the model or the price is missing (e.g. before CBECI or price data,
    after the chain data ends).
    """
    cost = cost_models(panel, params, (params.model,)).iloc[:, 0]
    ratio = (panel["close_usd"] / cost).rename("price_to_cost")
    known = ratio.notna()
    entry = held_for(as_rule(ratio < params.entry_ratio, known), params.confirm_days)
    if params.ribbon_confirm_days > 0:
        ribbons = hash_ribbons(panel)
        confirm = fired_within(ribbons.entry, params.ribbon_confirm_days)
        entry = (entry & confirm).astype("boolean")
    exit_ = as_rule(ratio > params.exit_ratio, known)
    indicator = pd.DataFrame(
        {"cost_usd_per_btc": cost, "price_to_cost": ratio, "deficit": ratio - 1.0}
    )
    return SignalOutput(f"below_cost[{params.model}]", indicator, entry, exit_)
