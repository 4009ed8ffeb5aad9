"""compare owns deciding whether two Prometheus API query responses agree, and describing how
they differ in a few short lines.

Rules: status and (on errors) errorType must match; resultType, label sets and timestamps must
match exactly; values within 1e-9 relative (NaN == NaN, +Inf == +Inf). Instant vectors compare as
sets keyed by labels, except when the query's top level is sort/sort_desc/topk/bottomk, where
order matters between elements of different value (ties may come in any order). Range-query
matrices are sorted by labels in Prometheus and compare in order; matrices from instant queries
(range selectors, subqueries) have no defined order and compare as sets. Queries that hit a known
Prometheus 2.42 bug (nested_at_subquery) compare only status, errorType and resultType.
"""
import json
import math
import re

REL_TOL = 1e-9
# stddev/stdvar cancel catastrophically when the spread is tiny next to the mean (timestamps,
# 1e21 magnitudes); Prometheus 2.42 itself varies at ~1e-8 with input order, so those get 1e-6.
REL_TOL_UNSTABLE = 1e-6
_UNSTABLE = re.compile(r"\b(stddev|stdvar|stddev_over_time|stdvar_over_time)\b")

ORDERED_TOP = re.compile(r"^\s*\(*\s*(sort|sort_desc|topk|bottomk)\s*(\(|by\b|without\b)")


def _matching_paren(s, i):
    """Index of the ')' closing the '(' at s[i], skipping string literals; -1 if none."""
    depth, k = 0, i
    while k < len(s):
        c = s[k]
        if c in "\"'`":
            k += 1
            while k < len(s) and s[k] != c:
                k += 2 if s[k] == "\\" and c != "`" else 1
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return k
        k += 1
    return -1


_SUBQUERY_RANGE = re.compile(r"\)\s*\[\s*\w+\s*:\s*\w*\s*\]")
_AT_AFTER = re.compile(r"\s*(offset\s+-?\w+\s*)?@")


def _open_paren_before(s, close):
    """Index of the '(' matching the ')' at s[close], scanning backwards (no strings with
    parentheses occur around subqueries in the corpus); -1 if none."""
    depth = 0
    for k in range(close, -1, -1):
        if s[k] == ")":
            depth += 1
        elif s[k] == "(":
            depth -= 1
            if depth == 0:
                return k
    return -1


def nested_at_subquery(query):
    """True when a subquery carrying `@` whose body also uses `@` sits inside another subquery,
    e.g. `(min_over_time((x @ T)[30m:1m] @ end()))[30m:45s]`. Prometheus 2.42 re-derives the
    inner `@` as an offset from each enclosing subquery's start (setOffsetForAtModifier) and gets
    these wrong: that query returns nothing although `min_over_time((x @ T)[30m:1m] @ end())`
    alone, evaluated at the same time, returns a value. See README ("Known Prometheus 2.42
    divergences"). Only status, errorType and resultType are compared for such queries."""
    subs = []
    for m in _SUBQUERY_RANGE.finditer(query):
        op = _open_paren_before(query, m.start())
        if op < 0:
            continue
        has_at = bool(_AT_AFTER.match(query, m.end()))
        subs.append((op, m.end(), has_at, "@" in query[op:m.start()]))
    for op_i, end_i, at_i, body_at_i in subs:
        if not (at_i and body_at_i):
            continue
        if any(op_o < op_i and end_i < end_o for op_o, end_o, _, _ in subs):
            return True
    return False


def ordered_query(query):
    """When the whole query is one sort/sort_desc/topk/bottomk call (optionally in parens), the
    only instant-vector results whose order Prometheus defines, returns its grouping as
    (None | "by" | "without", [labels]); otherwise None. topk/bottomk order is defined only
    within each group (groups come in input order, which is not defined)."""
    s = query.strip()
    while s.startswith("(") and _matching_paren(s, 0) == len(s) - 1:
        s = s[1:-1].strip()
    m = ORDERED_TOP.match(s)
    if not m:
        return None
    open_at = s.index("(", m.start(1))
    grouping = (None, [])
    if m.group(2) in ("by", "without"):
        close = _matching_paren(s, open_at)
        grouping = (m.group(2), _label_list(s[open_at + 1:close]))
        open_at = s.find("(", close + 1)
        if open_at < 0:
            return None
    end = _matching_paren(s, open_at)
    if end < 0:
        return None
    rest = s[end + 1:].strip()
    # topk(...) by (x) puts the grouping after the call
    g = re.fullmatch(r"(by|without)\s*\(([\w\s,]*)\)", rest)
    if g:
        return (g.group(1), _label_list(g.group(2)))
    if rest != "":
        return None
    return grouping if m.group(1) in ("topk", "bottomk") else (None, [])


def _label_list(text):
    return [x.strip() for x in text.split(",") if x.strip()]


def _split_groups(lst, grouping):
    """Splits an ordered vector into its aggregation groups, keeping order within each."""
    how, labels = grouping
    out = {}
    for m, pts in lst:
        if how == "by":
            key = tuple((k, m.get(k, "")) for k in sorted(labels))
        elif how == "without":
            key = tuple(sorted((k, v) for k, v in m.items() if k not in labels and k != "__name__"))
        else:
            key = ()
        out.setdefault(key, []).append((m, pts))
    return out


def parse_value(s):
    if not isinstance(s, str):
        raise ValueError(f"sample value {s!r} is not a string")
    if s in ("NaN", "+Inf", "-Inf"):
        return float(s.replace("+", ""))
    if not re.fullmatch(r"-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?", s):
        raise ValueError(f"sample value {s!r} is not in Prometheus's float format")
    return float(s)


def values_equal(a, b, tol=REL_TOL):
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if a == b:
        return True
    if math.isinf(a) or math.isinf(b):
        return False
    return abs(a - b) <= tol * max(abs(a), abs(b))


def label_key(metric):
    return tuple(sorted(metric.items()))


def fmt_labels(metric):
    name = metric.get("__name__", "")
    rest = ",".join(f'{k}="{v}"' for k, v in sorted(metric.items()) if k != "__name__")
    return f"{name}{{{rest}}}"


class Diff(Exception):
    """Raised with a list of short lines describing the first differences found."""

    def __init__(self, lines):
        super().__init__("\n".join(lines))
        self.lines = lines


def _point(p, what):
    if not isinstance(p, list) or len(p) != 2:
        raise Diff([f"{what}: malformed point {json.dumps(p)[:80]}"])
    t, v = p
    if not isinstance(t, (int, float)):
        raise Diff([f"{what}: malformed timestamp {t!r}"])
    return t, v


def _cmp_points(pa, pb, where, out, string=False, tol=REL_TOL):
    """Compares two lists of [t, "v"]; appends up to a few lines to out."""
    if len(pa) != len(pb):
        ta = [_point(p, "prometheus")[0] for p in pa]
        tb = [_point(p, "metricstor")[0] for p in pb]
        only_a = sorted(set(ta) - set(tb))
        only_b = sorted(set(tb) - set(ta))
        out.append(f"{where}: {len(pa)} points vs {len(pb)}; timestamps only in A: {only_a[:4]}"
                   f"{'...' if len(only_a) > 4 else ''} only in B: {only_b[:4]}{'...' if len(only_b) > 4 else ''}")
        return
    for a, b in zip(pa, pb):
        ta, va = _point(a, "A")
        tb, vb = _point(b, "B")
        if ta != tb:
            out.append(f"{where}: timestamp {ta} vs {tb}")
            return
        if string:
            if va != vb:
                out.append(f"{where} @{ta}: string {va!r} vs {vb!r}")
                return
            continue
        try:
            fa = parse_value(va)
        except ValueError as e:
            out.append(f"{where} @{ta}: A {e}")
            return
        try:
            fb = parse_value(vb)
        except ValueError as e:
            out.append(f"{where} @{ta}: B {e}")
            return
        if not values_equal(fa, fb, tol):
            out.append(f"{where} @{ta}: value {va} vs {vb}")
            return


def _series_list(result, kind, side):
    if not isinstance(result, list):
        raise Diff([f"{side}: result is not a list"])
    out = []
    for s in result:
        if not isinstance(s, dict) or not isinstance(s.get("metric"), dict):
            raise Diff([f"{side}: malformed series {json.dumps(s)[:100]}"])
        if kind == "vector":
            if "value" not in s:
                raise Diff([f"{side}: vector element without value: {json.dumps(s)[:100]}"])
            pts = [s["value"]]
        else:
            pts = s.get("values")
            if not isinstance(pts, list):
                raise Diff([f"{side}: matrix series without values: {json.dumps(s)[:100]}"])
        out.append((s["metric"], pts))
    return out


def _cmp_as_sets(la, lb, out, tol=REL_TOL):
    def index(lst):
        d = {}
        for m, pts in lst:
            d.setdefault(label_key(m), []).append((m, pts))
        return d
    da, db = index(la), index(lb)
    only_a = [k for k in da if k not in db]
    only_b = [k for k in db if k not in da]
    for k in only_a[:3]:
        m, pts = da[k][0]
        out.append(f"only in A: {fmt_labels(m)} {json.dumps(pts[:2])[:60]}")
    for k in only_b[:3]:
        m, pts = db[k][0]
        out.append(f"only in B: {fmt_labels(m)} {json.dumps(pts[:2])[:60]}")
    if len(only_a) > 3 or len(only_b) > 3:
        out.append(f"... {len(only_a)} series only in A, {len(only_b)} only in B (of {len(la)} / {len(lb)})")
    for k in da:
        if k in db:
            if len(da[k]) != len(db[k]):
                out.append(f"{fmt_labels(da[k][0][0])}: appears {len(da[k])} times vs {len(db[k])}")
                continue
            for (m, pa), (_, pb) in zip(da[k], db[k]):
                _cmp_points(pa, pb, fmt_labels(m), out, tol=tol)
        if len(out) >= 8:
            return


def _groups_by_value(lst):
    """Splits an ordered vector into runs of equal value (ties have no defined order)."""
    groups = []
    for m, pts in lst:
        try:
            v = parse_value(pts[0][1])
        except (ValueError, IndexError, TypeError):
            v = None
        if groups and v is not None and groups[-1][0] is not None and values_equal(groups[-1][0], v):
            groups[-1][1].append((m, pts))
        else:
            groups.append((v, [(m, pts)]))
    return [g for _, g in groups]


def _cmp_ordered_vector(la, lb, out, tol=REL_TOL):
    ga, gb = _groups_by_value(la), _groups_by_value(lb)
    if len(la) != len(lb):
        out.append(f"ordered vector: {len(la)} elements vs {len(lb)}")
        _cmp_as_sets(la, lb, out, tol)
        return
    if len(ga) != len(gb) or any(len(x) != len(y) for x, y in zip(ga, gb)):
        out.append("ordered vector: order differs: A " + ", ".join(
            f"{fmt_labels(m)}={p[0][1]}" for m, p in la[:4]) + " | B " + ", ".join(
            f"{fmt_labels(m)}={p[0][1]}" for m, p in lb[:4]))
        _cmp_as_sets(la, lb, out, tol)
        return
    for x, y in zip(ga, gb):
        before = len(out)
        _cmp_as_sets(x, y, out, tol)
        if len(out) > before:
            out.insert(before, "ordered vector: element order/values differ")
            return


def _cmp_ordered_matrix(la, lb, out, tol=REL_TOL):
    ka = [label_key(m) for m, _ in la]
    kb = [label_key(m) for m, _ in lb]
    if ka != kb:
        if sorted(ka) == sorted(kb):
            out.append("matrix series order differs (Prometheus sorts by labels): A "
                       + ", ".join(fmt_labels(m) for m, _ in la[:3]) + " | B "
                       + ", ".join(fmt_labels(m) for m, _ in lb[:3]))
        _cmp_as_sets(la, lb, out, tol)
        return
    for (m, pa), (_, pb) in zip(la, lb):
        _cmp_points(pa, pb, fmt_labels(m), out, tol=tol)
        if len(out) >= 8:
            return


_TOPK = re.compile(r"\b(topk|bottomk)\b")


def _values_by_time(lst):
    by_t = {}
    for _, pts in lst:
        for p in pts:
            if isinstance(p, list) and len(p) == 2:
                try:
                    by_t.setdefault(p[0], []).append(parse_value(p[1]))
                except ValueError:
                    by_t.setdefault(p[0], []).append(p[1])
    return by_t


def _same_values_ignoring_labels(la, lb):
    """topk/bottomk pick arbitrarily among tied input values (Prometheus 2.42 even differs from
    itself in range queries, where its input order is random), so their results are also accepted
    when, at every timestamp, the sorted output values agree."""
    va, vb = _values_by_time(la), _values_by_time(lb)
    if set(va) != set(vb):
        return False
    for t in va:
        xa = sorted(va[t], key=_sort_key)
        xb = sorted(vb[t], key=_sort_key)
        if len(xa) != len(xb) or not all(
                isinstance(x, float) and isinstance(y, float) and values_equal(x, y) for x, y in zip(xa, xb)):
            return False
    return True


def _sort_key(v):
    return (0, 0.0) if isinstance(v, float) and math.isnan(v) else (1, v) if isinstance(v, float) else (2, 0.0)


def compare(query, kind, a, b):
    """a, b: (http_status, parsed JSON or None, raw bytes) from Prometheus (A) and the other
    server (B); kind is "instant" or "range". Returns a list of diff lines, empty if equal."""
    sa, da, ra = a
    sb, db, rb = b
    if da is None:
        return [f"A (reference) answered non-JSON ({sa}): {ra[:120]!r}"]
    if db is None:
        return [f"B answered non-JSON ({sb}): {rb[:160]!r}"]
    if not isinstance(db, dict):
        return [f"B answered a JSON {type(db).__name__}, not an object"]
    if da.get("status") != db.get("status"):
        return [f"status {da.get('status')} ({sa}) vs {db.get('status')} ({sb}); "
                f"A: {_brief(da)} | B: {_brief(db)}"]
    if da.get("status") != "success":
        out = []
        if da.get("errorType") != db.get("errorType"):
            out.append(f"errorType {da.get('errorType')} vs {db.get('errorType')}; "
                       f"A: {da.get('error', '')[:100]} | B: {str(db.get('error', ''))[:100]}")
        if sa != sb:
            out.append(f"HTTP status {sa} vs {sb}")
        return out
    out = []
    if sa != sb:
        out.append(f"HTTP status {sa} vs {sb}")
    a_data, b_data = da.get("data"), db.get("data")
    if not isinstance(b_data, dict):
        return out + ["B: data is not an object"]
    rt = a_data.get("resultType")
    if rt != b_data.get("resultType"):
        return out + [f"resultType {rt} vs {b_data.get('resultType')}; A: {_brief(da)} | B: {_brief(db)}"]
    ar, br = a_data.get("result"), b_data.get("result")
    if nested_at_subquery(query):
        return out
    tol = REL_TOL_UNSTABLE if _UNSTABLE.search(query) else REL_TOL
    try:
        if rt in ("scalar", "string"):
            if not isinstance(br, list) or len(br) != 2:
                return out + [f"B: malformed {rt} result {json.dumps(br)[:80]}"]
            _cmp_points([ar], [br], rt, out, string=(rt == "string"), tol=tol)
        elif rt == "vector":
            la, lb = _series_list(ar, "vector", "A"), _series_list(br, "vector", "B")
            grouping = ordered_query(query)
            if grouping is None:
                _cmp_as_sets(la, lb, out, tol)
            else:
                ga, gb = _split_groups(la, grouping), _split_groups(lb, grouping)
                if list(sorted(ga)) != list(sorted(gb)):
                    _cmp_as_sets(la, lb, out, tol)
                for key in ga:
                    if key in gb and not out:
                        _cmp_ordered_vector(ga[key], gb[key], out, tol)
        elif rt == "matrix":
            la, lb = _series_list(ar, "matrix", "A"), _series_list(br, "matrix", "B")
            if kind == "range":
                _cmp_ordered_matrix(la, lb, out, tol)
            else:
                _cmp_as_sets(la, lb, out, tol)
        else:
            out.append(f"unknown resultType {rt!r}")
    except Diff as d:
        out.extend(d.lines)
    if out and rt in ("vector", "matrix") and sa == sb and _TOPK.search(query):
        try:
            la, lb = _series_list(ar, rt, "A"), _series_list(br, rt, "B")
            grouping = ordered_query(query) if rt == "vector" else None
            if grouping is None:
                if _same_values_ignoring_labels(la, lb):
                    return []
            else:
                ga, gb = _split_groups(la, grouping), _split_groups(lb, grouping)
                if sorted(ga) == sorted(gb) and all(_same_value_sequence(ga[k], gb[k], tol) for k in ga):
                    return []
        except Diff:
            pass
    return out


def _same_value_sequence(la, lb, tol):
    if len(la) != len(lb):
        return False
    for (_, pa), (_, pb) in zip(la, lb):
        try:
            if pa[0][0] != pb[0][0] or not values_equal(parse_value(pa[0][1]), parse_value(pb[0][1]), tol):
                return False
        except (ValueError, IndexError, TypeError):
            return False
    return True


def _brief(doc):
    if doc.get("status") != "success":
        return f"{doc.get('errorType')}: {str(doc.get('error', ''))[:100]}"
    d = doc.get("data") or {}
    r = d.get("result")
    n = len(r) if isinstance(r, list) and d.get("resultType") in ("vector", "matrix") else "-"
    return f"{d.get('resultType')} ({n} series)"
