"""The least-loss split: how a total is shared over batteries with the least modelled loss.

Pure and used by the engine's ``efficiency`` strategy (``optimal_split`` and its parts) and
by ``equal`` (``even_split``); the benchmark's bounds call ``optimal_split`` too. Per-table
whole-watt loss arrays (``_curve``) and per-fleet hull segments (``_SHAPES``) are cached, both
bounded.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate, product
import math

from .model import DEFAULT_EFFICIENCY_TABLE, EfficiencyTable, Mode


def even_split(total: int, members: Sequence[int], caps: Sequence[int]) -> dict[int, int]:
    """Split total as evenly as caps allow over members (water filling, whole watts).

    Members that cannot take an even share get their cap; the rest is shared again. Odd
    watts go to the earliest members.
    """
    shares: dict[int, int] = {}
    open_members = sorted(members, key=lambda i: (caps[i], i))
    left = total
    while open_members:
        share = left // len(open_members)
        smallest = open_members[0]
        if caps[smallest] <= share:
            shares[smallest] = caps[smallest]
            left -= caps[smallest]
            open_members.pop(0)
            continue
        extra = left - share * len(open_members)
        for position, index in enumerate(sorted(open_members)):
            shares[index] = share + (1 if position < extra else 0)
        left = 0
        break
    return shares


# --------------------------------------------------------------------------------------
# efficiency: the least modelled conversion loss
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Candidate:
    """A battery that may take part in a split: its most W, its table and its idle draw."""

    max_w: int
    table: EfficiencyTable = DEFAULT_EFFICIENCY_TABLE
    standby_w: float = 0.0  # W it draws while idle; counted when a set leaves it out


#: Whole watts every loss array covers from the start (extended for larger caps).
_ARRAY_W = 2500
#: Sets of batteries tried exhaustively up to this many; beyond, a bounded family.
_MAX_SETS = 16
#: How many of the most promising sets get the exact pairwise refinement.
_REFINED = 3
#: Bounded family only: sets whose batteries would run below this on average are not tried
#: (on the measured table only the 63 W row makes two batteries at under 400 W lose less
#: than one, by at most a few W).
_LEAST_SHARE_W = 400


class _Curve:
    """One table's loss curve for one mode, built once: rows, whole-watt array, bends, hulls.

    Also the slopes over all its bends (``_steep``) and the hull's monotone chain over all
    its rows (``_hull_chains``), which each cap's slopes and hull are derived from: a cap
    that changes every call costs a few µs, and keeps one small tuple per cap at most.
    ``loss[w]`` is the loss at w whole watts (``loss[0]`` = 0, stopped), computed with the
    same arithmetic as ``at``; lookups in the hot path index it and hash nothing.
    """

    __slots__ = (
        "_below",
        "_bends",
        "_chain",
        "_points",
        "_steep",
        "hulls",
        "loss",
        "tops",
        "xs",
        "ys",
    )

    def __init__(self, mode: Mode, table: EfficiencyTable) -> None:
        rows = sorted(table)
        if not rows:
            raise ValueError("efficiency table is empty")
        self.xs = [float(row[0]) for row in rows]
        if mode is Mode.CHARGE:
            self.ys = [ac * (1.0 - charge) for ac, charge, _ in rows]
        else:
            self.ys = [ac * (1.0 / discharge - 1.0) for ac, _, discharge in rows]
        bends = {1}
        for x in self.xs:
            if x >= 1:
                bends.update((math.floor(x), math.ceil(x)))
        self._bends = sorted(bends)
        self.tops: dict[int, _Top] = {}
        self.hulls: dict[int, tuple[int, float, float]] = {}
        self.loss: list[float] = [0.0]
        self._extend(_ARRAY_W)
        self._steep = _steep(self.array(self._bends[-1]), self._bends)
        self._points, self._below, self._chain = _hull_chains(self)

    def at(self, ac_w: float) -> float:
        """Return the loss (W) of a running battery at ac_w > 0 AC watts (interpolated)."""
        xs, ys = self.xs, self.ys
        if ac_w <= xs[0]:
            return ys[0]
        if ac_w >= xs[-1]:
            return ys[-1] * ac_w / xs[-1]
        i = bisect_right(xs, ac_w)
        return ys[i - 1] + (ys[i] - ys[i - 1]) * (ac_w - xs[i - 1]) / (xs[i] - xs[i - 1])

    def _extend(self, cap: int) -> None:
        """Extend ``loss`` to cover 0..cap whole watts (segment by segment, as ``at``)."""
        xs, ys, loss = self.xs, self.ys, self.loss
        start = len(loss)
        low = min(cap + 1, max(start, math.floor(xs[0]) + 1))
        loss.extend(ys[0] for _ in range(start, low))  # up to the first row: fixed cost
        for i in range(1, len(xs)):
            x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
            high = min(cap + 1, math.ceil(x1) if x1 != math.floor(x1) else int(x1))
            high = max(high, len(loss))
            loss.extend(y0 + (y1 - y0) * (w - x0) / (x1 - x0) for w in range(len(loss), high))
        loss.extend(ys[-1] * w / xs[-1] for w in range(len(loss), cap + 1))

    def array(self, cap: int) -> list[float]:
        """Return the loss array, covering at least 0..cap."""
        if cap >= len(self.loss):
            self._extend(cap)
        return self.loss

    def bends_to(self, cap: int) -> tuple[int, ...]:
        """Return the whole watts in 1..cap where the curve bends or ends (ascending)."""
        return (*self._bends[: bisect_left(self._bends, cap)], cap)

    def moves(self, cap: int, power: int) -> tuple[float, float]:
        """Return how the loss moves from power (1..cap whole W) within cap: (rise, fall).

        ``rise`` is the least W of loss per W the loss rises by from power up to any higher
        one within cap, ``fall`` the most W per W it falls by down to any lower one from 1 W:
        a move of power from battery j to battery i can save loss only where j's fall
        exceeds i's rise (``_Fleet.refine`` skips the other pairs). The loss is a straight
        line between two bends of ``bends_to(cap)``, so the extremes are found at the bends
        (and, between two, at its first and last whole watt); the lines are taken through
        the array's values at the bends, which the array's own values between them differ
        from by rounding only (about 1e-13 W, far below the 1e-9 W a move must save).

        Worked out at power only, from the curve's slopes over all its bends (``_steep``):
        the extremes that look above also meet the secant to cap, and the stretch from the
        last bend below cap to cap is the cap's own (``_top``, kept per cap).
        """
        top, y_cap, last_line, fall_cap, fall_top = self.tops.get(cap) or self._top(cap)
        if power >= cap:  # at cap: nothing above
            return math.inf, fall_cap
        bs, ys, rise_at, rise_in, fall_at, fall_in, inner = self._steep
        k = bisect_right(bs, power) - 1  # the bend at or below power
        if k == top:  # from the last bend below cap up to cap
            return last_line, (fall_at[k] if bs[k] == power else fall_top)
        if bs[k] == power:
            rise = rise_at[k][top - k - 1]
            to_cap = (y_cap - ys[k]) / (cap - bs[k])
            return min(rise, to_cap), fall_at[k]
        rise = rise_in[k][top - k - 1]
        for w, y in inner[k]:
            slope = (y_cap - y) / (cap - w)
            rise = min(rise, slope)
        return rise, fall_in[k]

    def _top(self, cap: int) -> _Top:
        """Return and keep cap's ``_Top``: what ``moves`` needs of cap beyond ``_steep``."""
        bs, ys = self._steep[:2]
        top = bisect_left(bs, cap) - 1  # the last bend below cap (-1: none, cap is 1)
        if top < 0:
            return _keep(self.tops, cap, (top, 0.0, 0.0, -math.inf, 0.0))
        y_cap = self.array(cap)[cap]
        last_line = (y_cap - ys[top]) / (cap - bs[top])  # from the last bend below cap to cap
        # the secant from each bend below the last one below cap up to cap
        to_cap = [(y_cap - ys[k]) / (cap - bs[k]) for k in range(top)]
        fall = last_line
        if cap - bs[top] >= 2:  # whole watts between: the first and the last
            for w in (bs[top] + 1, cap - 1):
                y = ys[top] + last_line * (w - bs[top])
                fall = max([fall, *[(y - ys[j]) / (w - bs[j]) for j in range(top)]])
        return _keep(self.tops, cap, (top, y_cap, last_line, max([last_line, *to_cap]), fall))

    def hull(self, cap: int) -> tuple[tuple[float, float], ...]:
        """Return the lower convex hull of the running loss on (0, cap] as segments.

        Each segment is (length W, W of loss per W); the slopes rise strictly. The hull of
        the points below cap is the curve's own (``_hull_chains``); cap's point only takes
        the last few off it (bit for bit the hull worked out from all the points).
        """
        top, length, slope = self.hull_top(cap)
        return (*self._chain[top], (length, slope))

    def hull_top(self, cap: int) -> tuple[int, float, float]:
        """Return the hull on (0, cap] as (top, length, slope): ``_chain[top]`` and then one.

        top is the hull's last point below cap, (length, slope) its segment to cap (kept per
        cap, one tuple of numbers).
        """
        hull = self.hulls.get(cap)
        if hull is not None:
            return hull
        points, below = self._points, self._below
        # the points below cap: the first (just above 0 W) and the rows in 0 < x < cap
        top = max(bisect_left(self.xs, cap) - bisect_right(self.xs, 0), 0)
        end = (float(cap), self.at(cap))
        # the monotone chain's pops for cap's point, on the stack it had after point top
        while (under := below[top]) >= 0 and _cross(points[under], points[top], end) <= 0:
            top = under
        x, y = points[top]
        return _keep(self.hulls, cap, (top, end[0] - x, (end[1] - y) / (end[0] - x)))


def _hull_chains(
    curve: _Curve,
) -> tuple[list[tuple[float, float]], list[int], list[tuple[tuple[float, float], ...]]]:
    """Return a curve's hull points, and for each the monotone chain's stack after it.

    The points are the first (just above 0 W: the fixed cost) and every row above 0 W, in
    order. ``below[k]`` is the point under k on the stack when k was pushed (-1: none), so
    the stack after point k is k, ``below[k]``, ``below[below[k]]``, ... (it changes only
    above k); ``chain[k]`` is that stack's segments (length W, W of loss per W), from 0 W.
    """
    points = [(0.0, curve.at(curve.xs[0]))]
    points += [(x, curve.at(x)) for x in curve.xs if x > 0]
    below: list[int] = []
    chain: list[tuple[tuple[float, float], ...]] = []
    for k, point in enumerate(points):
        top = k - 1
        while top >= 0 and below[top] >= 0 and _cross(points[below[top]], points[top], point) <= 0:
            top = below[top]
        below.append(top)
        if top < 0:
            chain.append(())
            continue
        x, y = points[top]
        chain.append((*chain[top], (point[0] - x, (point[1] - y) / (point[0] - x))))
    return points, below, chain


#: ``_Curve._top``: (the last bend below cap (-1: none), the loss at cap, the line from that
#: bend to cap, the most W per W the loss falls by from cap, and from inside that line).
type _Top = tuple[int, float, float, float, float]


#: Most caps a curve keeps a ``_Top`` and a ``hull_top`` for (then the oldest goes first).
_MAX_CAPS = 32


def _keep[V](cache: dict[int, V], cap: int, value: V) -> V:
    """Store value for cap in one of a curve's per-cap caches (bounded) and return it."""
    if len(cache) >= _MAX_CAPS:
        del cache[next(iter(cache))]
    cache[cap] = value
    return value


#: ``_Curve._steep``: a curve's slopes over all its bends ``bs`` (cap aside), for
#: ``_Curve.moves``: (bs, ys, rise_at, rise_in, fall_at, fall_in, inner). ``rise_at[k][n]``
#: is the least of the line from bend k to bend k + 1 and the secants from bend k to the bends
#: k + 2 .. k + 1 + n; ``rise_in[k][n]`` the same from the first and last whole watt strictly
#: between bends k and k + 1 (``inner[k]``: those (w, loss) points, none when the bends are
#: next to each other). ``fall_at[k]`` and ``fall_in[k]`` look below only: no cap changes
#: them.
type _Steep = tuple[
    list[int],
    list[float],
    list[list[float]],
    list[list[float]],
    list[float],
    list[float],
    list[tuple[tuple[int, float], ...]],
]


def _steep(loss: Sequence[float], bs: list[int]) -> _Steep:
    """Return ``_Steep`` for the loss array (covering every bend) and all of a curve's bends."""
    ys = [loss[b] for b in bs]
    count = len(bs)
    line = [(ys[k + 1] - ys[k]) / (bs[k + 1] - bs[k]) for k in range(count - 1)]
    inner = [
        tuple((w, ys[k] + line[k] * (w - bs[k])) for w in (bs[k] + 1, bs[k + 1] - 1))
        if bs[k + 1] - bs[k] >= 2
        else ()
        for k in range(count - 1)
    ]
    rise_at: list[list[float]] = []
    rise_in: list[list[float]] = []
    for k in range(count - 1):
        above = range(k + 2, count)
        yk, bk = ys[k], bs[k]
        rise_at.append(
            list(accumulate([line[k], *[(ys[j] - yk) / (bs[j] - bk) for j in above]], min))
        )
        if not inner[k]:
            rise_in.append([line[k]] * (count - k - 1))
            continue
        (w0, y0), (w1, y1) = inner[k]
        secants = [min((ys[j] - y0) / (bs[j] - w0), (ys[j] - y1) / (bs[j] - w1)) for j in above]
        rise_in.append(list(accumulate([line[k], *secants], min)))
    fall_at = [-math.inf]  # at 1 W: nothing below (0 W is stopped)
    fall_at += [
        max([line[k - 1], *[(ys[k] - ys[j]) / (bs[k] - bs[j]) for j in range(k - 1)]])
        for k in range(1, count)
    ]
    fall_in = [
        max([line[k], *[(y - ys[j]) / (w - bs[j]) for w, y in inner[k] for j in range(k)]])
        for k in range(count - 1)
    ]
    return bs, ys, rise_at, rise_in, fall_at, fall_in, inner


_CURVES: dict[tuple[int, Mode], tuple[EfficiencyTable, _Curve]] = {}
_BY_VALUE: dict[tuple[Mode, EfficiencyTable], _Curve] = {}


def _curve(mode: Mode, table: EfficiencyTable) -> _Curve:
    """Return table's curve for mode: found by the table's identity, hashed only when new."""
    key = (id(table), mode)
    hit = _CURVES.get(key)
    if hit is not None and hit[0] is table:
        return hit[1]
    curve = _BY_VALUE.get((mode, table))
    if curve is None:
        if len(_BY_VALUE) >= 64:
            _BY_VALUE.clear()
        curve = _BY_VALUE[(mode, table)] = _Curve(mode, table)
    if len(_CURVES) >= 256:
        _CURVES.clear()
    _CURVES[key] = (table, curve)  # holding the table keeps its id from being reused
    return curve


def loss_w(mode: Mode, ac_w: float, table: EfficiencyTable = DEFAULT_EFFICIENCY_TABLE) -> float:
    """Return the modelled conversion loss (W) of one battery running at ac_w AC watts.

    Charge loss is AC * (1 - efficiency), discharge loss AC * (1 / efficiency - 1), linear
    between the table's rows; below the first row a running inverter costs the first row's
    loss, above the last row the efficiency holds. 0 when stopped (ac_w <= 0 or mode stop).
    Stable API: the benchmark's bounds use it (the simulator models loss the same way).
    """
    if mode is Mode.STOP or ac_w <= 0:
        return 0.0
    curve = _curve(mode, table)
    if isinstance(ac_w, int) and ac_w < len(curve.loss):
        return curve.loss[ac_w]
    return curve.at(ac_w)


def split_loss_w(mode: Mode, powers: Sequence[float], candidates: Sequence[Candidate]) -> float:
    """Return the modelled loss (W) of running candidates at powers (AC W), idle ones' standby."""
    return sum(
        loss_w(mode, power, candidate.table) if power > 0 else candidate.standby_w
        for power, candidate in zip(powers, candidates, strict=True)
    )


def _cross(o: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
    """Return the z of (a - o) x (b - o): positive for a counter-clockwise turn."""
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def water_fill(total: float, caps: Sequence[float]) -> list[float]:
    """Split total as evenly as caps allow (floats; more than their sum: the caps).

    Stable API: energy.py splits the actual power evenly with it for the saving.
    """
    shares = [0.0] * len(caps)
    waiting = sorted(range(len(caps)), key=lambda i: caps[i])
    left = total
    while waiting:
        share = left / len(waiting)
        if caps[waiting[0]] <= share:
            index = waiting.pop(0)
            shares[index] = caps[index]
            left -= caps[index]
            continue
        for index in waiting:
            shares[index] = share
        break
    return shares


#: Per batteries (index, curve, cap), flat: their arrays, their hull segments sorted by slope
#: (the batteries, lengths and slopes, in three tuples, and where a segment's slope has others
#: within 1e-12 of it, the end of those: ``hull_split`` shares them), each battery's kind
#: (the first battery with its curve and cap), the pairs ``_Fleet.refine`` found it cannot
#: improve, and the two numbers that pack a pair's (kind i, kind j, power i, power j) into one
#: int (all of it depends only on the key). Few
#: objects, so that a new shape every call (caps that move) gives the garbage collector
#: little to count and walk: the pairs are ints in a dict, which it never walks.
type _Shape = tuple[
    dict[int, list[float]],
    tuple[int, ...],
    tuple[float, ...],
    tuple[float, ...],
    dict[int, int],
    dict[int, int],
    dict[int, None],
    int,
    int,
]
_SHAPES: dict[tuple[int | _Curve, ...], _Shape] = {}
#: Most shapes kept (then the oldest goes), and most settled pairs per shape (then it starts
#: again).
_MAX_SHAPES = 128
_MAX_SETTLED = 2048


class _Fleet:
    """One split problem, indexed by battery: caps, arrays and all hull segments.

    ``who``, ``parts`` and ``slopes`` hold every battery's hull segments sorted by slope
    (kept in ``_SHAPES`` for the same batteries, curves and caps); a set's hull split walks
    those of its own.
    """

    __slots__ = (
        "arrays",
        "bits",
        "caps",
        "curves",
        "ends",
        "idle",
        "kinds",
        "order",
        "parts",
        "rank",
        "settled",
        "slopes",
        "who",
        "width",
    )

    def __init__(
        self,
        order: Sequence[int],
        curves: Sequence[_Curve],
        caps: Sequence[int],
        idle: Sequence[float],
    ) -> None:
        self.order = tuple(order)
        self.caps = caps
        self.curves = curves
        self.idle = idle
        self.rank = {i: position for position, i in enumerate(order)}
        indexes = sorted(self.order)
        key = tuple([part for i in indexes for part in (i, curves[i], caps[i])])
        shape = _SHAPES.get(key)
        if shape is None:
            if len(_SHAPES) >= _MAX_SHAPES:  # the oldest goes (clearing all took 1-2 ms)
                del _SHAPES[next(iter(_SHAPES))]
            arrays = {i: curves[i].array(caps[i]) for i in order}
            segments = []
            for i in order:  # every battery's hull segments
                segments += [(slope, i, length) for length, slope in curves[i].hull(caps[i])]
            segments.sort()
            slopes, who, parts = zip(*segments, strict=True) if segments else ((), (), ())
            bits = max((caps[i] for i in order), default=0).bit_length()  # a power < 2**bits
            width = max(order, default=0) + 1  # an index < width
            # per segment with the next one's slope within 1e-12: the first after it with a
            # slope more than 1e-12 above its own (the others end where they are)
            ends: dict[int, int] = {}
            count = len(slopes)
            for position in [p for p in range(count - 1) if slopes[p + 1] - slopes[p] <= 1e-12]:
                end, slope = position + 2, slopes[position]
                while end < count and slopes[end] - slope <= 1e-12:
                    end += 1
                ends[position] = end
            first: dict[tuple[_Curve, int], int] = {}
            kinds = {i: first.setdefault((curves[i], caps[i]), i) for i in indexes}
            shape = (arrays, who, parts, slopes, ends, kinds, {}, bits, width)
            _SHAPES[key] = shape
        self.arrays, self.who, self.parts, self.slopes, self.ends = shape[:5]
        self.kinds, self.settled, self.bits, self.width = shape[5:]
        if len(self.settled) > _MAX_SETTLED:
            self.settled.clear()

    def hull_split(self, total: float, members: set[int]) -> dict[int, float]:
        """Return the split of total over members that is optimal on their loss hulls.

        Segments are taken cheapest slope first (equal marginal loss); equal slopes share
        evenly, so identical batteries get equal power.
        """
        powers = dict.fromkeys(members, 0.0)
        left = float(total)
        if not left > 0:  # nothing to split (nor a total that is not a number)
            return powers
        who, parts, ends, skip = self.who, self.parts, self.ends, 0
        if not ends:  # no two slopes are equal: one segment after the other
            for i, part in zip(who, parts, strict=True):
                if i in powers:
                    if left <= part:  # the last one: what is left of total
                        powers[i] += left
                        break
                    powers[i] += part
                    left -= part
            return powers
        for position, i in enumerate(who):
            if i not in powers or position < skip:
                continue
            if position in ends:  # the segments with a slope within 1e-12 of this one
                end = ends[position]
                group = [q for q in range(position, end) if who[q] in powers]
                if len(group) > 1:  # a tie among members: shared
                    skip = end
                    lengths = [parts[q] for q in group]
                    length = sum(lengths)
                    if length <= left:
                        for q in group:
                            powers[who[q]] += parts[q]
                        left -= length
                        if left <= 0:
                            break
                        continue
                    shares = water_fill(left, lengths)
                    for q, share in zip(group, shares, strict=True):
                        powers[who[q]] += share
                    break
            part = parts[position]
            if left <= part:  # the last one: what is left of total
                powers[i] += left
                break
            powers[i] += part
            left -= part
        return powers

    def whole(self, powers: dict[int, float], total: int) -> dict[int, int]:
        """Round powers to whole watts within 0..cap that add up to total."""
        caps, floor = self.caps, math.floor
        # powers are at least 0 (``hull_split``): floor(power) is too
        whole = {i: min(caps[i], floor(power)) for i, power in powers.items()}
        left = total - sum(whole.values())
        if left <= 0:
            return whole
        # by (whole[i] - powers[i], i): the most rounded off first
        order = [i for _, i in sorted([(whole[i] - p, i) for i, p in powers.items() if p > 0])]
        while left > 0:  # rounds of one watt each to those below their cap, in order
            below = [i for i in order if whole[i] < caps[i]]
            if not below:
                break
            for i in below[:left]:
                whole[i] += 1
            left -= min(left, len(below))
        return whole

    def loss(self, powers: dict[int, int]) -> float:
        """Return the modelled loss of the running batteries plus the idle ones' draw."""
        arrays, idle, get = self.arrays, self.idle, powers.get
        return sum([arrays[i][p] if (p := get(i, 0)) > 0 else idle[i] for i in self.order])

    def split(self, total: int, chosen: tuple[int, ...], most: int | None = None) -> dict[int, int]:
        """Return the hull optimum of total over chosen, in whole watts (not yet refined).

        most: the sum of chosen's caps, when the caller has it.
        """
        if most is None:
            most = sum(map(self.caps.__getitem__, chosen))
        total = min(total, most)
        return self.whole(self.hull_split(total, set(chosen)), total)

    def best_split(
        self,
        total: int,
        chosen: tuple[int, ...],
        hull: dict[int, int],
        hull_loss: float | None = None,
    ) -> dict[int, int]:
        """Return the better of hull and the even split over chosen, refined onto the bends.

        hull_loss: ``loss(hull)`` when the caller has it.
        """
        total = min(total, sum(map(self.caps.__getitem__, chosen)))
        even = even_split(total, chosen, self.caps)
        if hull_loss is None:
            hull_loss = self.loss(hull)
        return self.refine(even if self.loss(even) < hull_loss else hull)

    def refine(self, powers: dict[int, int]) -> dict[int, int]:
        """Improve a split by moving power between two running batteries onto a bend.

        On whole watts the loss curves are linear between their bends, so an optimum has
        all running batteries but one on a bend (or at 1 W or their max). Moving pairs onto
        bends finds the exact optimum for two batteries and repairs the convex-hull split
        where a curve is not convex. Array lookups only; at most three passes.

        A pair's move depends only on its two powers and kinds (curve and cap), so a pair at
        powers already found not to improve for the same kinds (``settled``, shared by every
        set of this fleet) is skipped, and so is a pair where neither battery's loss falls
        by more per W it gives away than the other's rises by per W it takes
        (``_Curve.moves``): no move between them saves.
        """
        powers = dict(powers)
        running = [i for i, power in powers.items() if power > 0]
        if len(running) < 2:
            return powers
        arrays, caps, settled = self.arrays, self.caps, self.settled
        bits, width, kinds, curves = self.bits, self.width, self.kinds, self.curves
        rise: dict[int, float] = {}
        fall: dict[int, float] = {}
        for i in running:
            rise[i], fall[i] = curves[i].moves(caps[i], powers[i])
        for _ in range(3):
            improved = False
            for i in running:
                li, bi, row, cap = arrays[i], curves[i]._bends, kinds[i] * width, caps[i]
                rise_i, fall_i = rise[i], fall[i]  # change only when i moves (below)
                for j in running:
                    if i == j or (rise_i >= fall[j] and rise[j] >= fall_i):
                        continue
                    pi, pj = powers[i], powers[j]
                    pair_key = (row + kinds[j]) << bits  # (kind i, kind j, pi, pj) as one int
                    if (((pair_key | pi) << bits) | pj) in settled:
                        continue
                    lj, pair = arrays[j], pi + pj
                    bar = li[pi] + lj[pj] - 1e-9  # a move must cost less than this
                    # the bends x of i below its cap (then its cap) with 1 <= pair - x <=
                    # the cap of j: those of ``bends_to(cap)``, in order
                    low = pair - caps[j]
                    xs = bi[bisect_left(bi, low) : bisect_left(bi, pair if pair < cap else cap)]
                    if low <= cap < pair:
                        xs.append(cap)
                    for x in xs:
                        cost = li[x] + lj[pair - x]
                        if cost < bar:
                            powers[i], powers[j], bar, improved = x, pair - x, cost - 1e-9, True
                    if powers[i] != pi:
                        rise[i], fall[i] = rise_i, fall_i = curves[i].moves(cap, powers[i])
                        rise[j], fall[j] = curves[j].moves(caps[j], powers[j])
                    settled[(((pair_key | powers[i]) << bits) | powers[j])] = None
            if not improved:
                break
        return powers

    def family(
        self, curves: Sequence[_Curve], total: int, first: int | None
    ) -> list[tuple[int, ...]]:
        """Return the sets of batteries worth trying for total, each in order.

        Batteries are interchangeable only when both table and cap match, so of those only
        the first few in order run. Up to ``_MAX_SETS`` sets every such choice is tried;
        beyond, for each size the batteries cheapest per W at that size's share, and the
        first in order (a bounded family, sizes from the fewest that may carry total to
        ``ceil(total / _LEAST_SHARE_W)``). All of order is always tried. A set holds
        ``first`` when given (the battery behind).
        """
        order, caps, kinds = self.order, self.caps, self.kinds
        classes: dict[int, list[int]] = {}  # by kind: the same table and cap
        for i in order:
            classes.setdefault(kinds[i], []).append(i)
        largest = sorted((caps[i] for i in order), reverse=True)
        fewest = next(
            (k for k in range(1, len(order) + 1) if sum(largest[:k]) >= total), len(order)
        )
        most = max(fewest, -(-total // _LEAST_SHARE_W))
        sets: list[tuple[int, ...]] = []
        groups = list(classes.values())
        if math.prod(len(group) + 1 for group in groups) <= _MAX_SETS:
            for counts in product(*(range(len(group) + 1) for group in groups)):
                if not any(counts):
                    continue
                chosen = {i for group, k in zip(groups, counts, strict=True) for i in group[:k]}
                if first is None or first in chosen:
                    sets.append(tuple(i for i in order if i in chosen))
        else:
            arrays = self.arrays
            for k in range(fewest, min(most, len(order)) + 1):
                share = -(-total // k)
                # cheapest per W at the share, ties by rank: order is by rank, and the sort
                # is stable (the same as sorting (W per W, rank, i) tuples, faster)
                per_w = {}
                for i in order:
                    watts = caps[i] if caps[i] < share else share
                    per_w[i] = arrays[i][watts] / watts
                for ranked in (sorted(order, key=per_w.__getitem__), order):
                    chosen = set(ranked[:k])
                    if first is not None and first not in chosen:
                        chosen = {*ranked[: k - 1], first}
                    option = tuple([i for i in order if i in chosen])
                    if option not in sets:
                        sets.append(option)
        if order not in sets:
            sets.append(order)
        return sets


def _options(
    fleet: _Fleet,
    curves: Sequence[_Curve],
    total: int,
    *,
    first: int | None = None,
    keep: tuple[int, ...] = (),
) -> dict[tuple[int, ...], tuple[dict[int, int], float]]:
    """Return the most promising sets that carry total, each with its split and set cost.

    The cost is the modelled loss of the running batteries plus the idle draw of the
    batteries of the fleet that stay idle. Every set of the family that carries total (and
    all of the fleet) is split; the ``_REFINED`` cheapest, and ``keep`` when it carries
    total, are refined and returned.
    """
    order, caps, rank = fleet.order, fleet.caps, fleet.rank
    sets = fleet.family(curves, total, first)
    if keep and keep not in sets and (first is None or first in keep):
        sets.append(keep)
    rough: dict[tuple[int, ...], tuple[dict[int, int], float]] = {}
    everyone, cap_of = len(order), caps.__getitem__
    for chosen in sets:
        most = sum(map(cap_of, chosen))
        if len(chosen) < everyone and most < total:
            continue
        powers = fleet.split(total, chosen, most)
        rough[chosen] = (powers, fleet.loss(powers))
    ranked = sorted(rough, key=lambda c: (rough[c][1], len(c), [rank[i] for i in c]))
    picked = ranked[:_REFINED]
    if keep in rough and keep not in picked:
        picked.append(keep)
    options: dict[tuple[int, ...], tuple[dict[int, int], float]] = {}
    for chosen in picked:
        powers = fleet.best_split(total, chosen, *rough[chosen])
        options[chosen] = (powers, fleet.loss(powers))
    return options


def optimal_split(demand_w: int, candidates: Sequence[Candidate], mode: Mode) -> tuple[int, ...]:
    """Return the loss-minimal split of demand_w (whole W) over candidates; 0 = stays idle.

    Delivers min(demand_w, sum of max_w) in mode (charge or discharge). Candidates with the
    same table and max are interchangeable (the earlier runs first); an idle candidate costs
    its ``standby_w``. The least cost wins, then the fewest batteries. Within a set: the
    better of the equal-marginal-loss (convex hull) optimum and the even split, refined
    onto the bends. Stable API: the benchmark's bounds use it.
    """
    result = [0] * len(candidates)
    usable = [i for i, candidate in enumerate(candidates) if candidate.max_w > 0]
    total = min(int(demand_w), sum(candidates[i].max_w for i in usable))
    if total <= 0:
        return tuple(result)
    curves = [_curve(mode, candidate.table) for candidate in candidates]
    caps = [max(0, candidate.max_w) for candidate in candidates]
    fleet = _Fleet(usable, curves, caps, [candidate.standby_w for candidate in candidates])
    options = _options(fleet, curves, total)
    rank = fleet.rank
    best = min(options, key=lambda c: (options[c][1], len(c), [rank[i] for i in c]))
    for i, power in options[best][0].items():
        result[i] = power
    return tuple(result)
