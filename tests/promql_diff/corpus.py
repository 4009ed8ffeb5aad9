"""corpus owns the generated PromQL queries: a fixed coverage list (every 2.42 function, operator,
aggregation, modifier and some queries that must error) followed by seeded random compositions
of the same building blocks, each tagged with a category for the report.

Queries may hold `{AT:k}` placeholders (tick k of the data window); render() turns them into
absolute Unix seconds so the corpus text for a seed is stable while the window moves with now.
"""
import random
import re

from datagen import N_STEPS, STEP_MS

COUNTERS = ["http_requests_total", "node_cpu_seconds_total", "path_hits_total", "gappy_events_total",
            "slow_counter_total",
            "batch_jobs_processed_total", "http_request_duration_seconds_count",
            "http_request_duration_seconds_sum"]
GAUGES = ["temperature_celsius", "queue_length", "up", "gappy_gauge", "stale_gauge", "special_values",
          "odd_labels", "magnitudes", "build_info", "slow_gauge", "vanishing_gauge"]
HIST = "http_request_duration_seconds_bucket"

RANGE_FUNCS = ["rate", "irate", "increase", "delta", "idelta", "deriv", "resets", "changes",
               "avg_over_time", "min_over_time", "max_over_time", "sum_over_time", "count_over_time",
               "stddev_over_time", "stdvar_over_time", "last_over_time", "present_over_time",
               "absent_over_time"]
MATH_FUNCS = ["abs", "ceil", "floor", "exp", "ln", "log2", "log10", "sqrt", "sgn", "round",
              "acos", "acosh", "asin", "asinh", "atan", "atanh", "cos", "cosh", "sin", "sinh", "tan",
              "tanh", "deg", "rad"]
DATE_FUNCS = ["day_of_month", "day_of_week", "day_of_year", "days_in_month", "hour", "minute",
              "month", "year"]
AGGS = ["sum", "min", "max", "avg", "group", "stddev", "stdvar", "count"]
PARAM_AGGS = ["topk", "bottomk", "quantile", "count_values"]
ARITH = ["+", "-", "*", "/", "%", "^", "atan2"]
CMP = ["==", "!=", ">", "<", ">=", "<="]
SETOPS = ["and", "or", "unless"]
DURATIONS = ["30s", "1m", "2m", "90s", "5m", "5m", "10m", "15m", "1h", "1m30s", "45s"]
SUB_STEPS = ["", "15s", "30s", "1m", "2m", "45s"]

_AT = re.compile(r"\{AT:(-?\d+)\}")


def render(query, t0_ms):
    return _AT.sub(lambda m: str((t0_ms + int(m.group(1)) * STEP_MS) // 1000), query)


def q(s):
    """PromQL double-quoted string literal."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Gen:
    def __init__(self, seed, metrics):
        self.r = random.Random(f"corpus-{seed}")
        self.metrics = {k: {lk: sorted(lv) for lk, lv in v.items()} for k, v in metrics.items()}

    # ---------- selectors ----------
    def labels_of(self, name):
        return sorted(self.metrics[name])

    def matcher(self, name, label):
        r = self.r
        vals = self.metrics[name][label]
        op = r.choice(["=", "=", "!=", "=~", "!~"])
        if op in ("=", "!="):
            v = r.choice(vals) if r.random() < 0.93 else "nope"
        else:
            v = r.choice([
                r.choice(vals),
                "|".join(r.sample(vals, min(2, len(vals)))),
                re.escape(r.choice(vals))[:3] + ".*",
                ".*", ".+", "", "(?i)" + r.choice(vals).upper(),
                re.escape(r.choice(vals)),
                "x|" + r.choice(vals),
            ])
        return f"{label}{op}{q(v)}"

    def selector(self, name=None, fams=None):
        r = self.r
        name = name or r.choice(fams or (COUNTERS + GAUGES))
        labels = self.labels_of(name)
        n = r.choice([0, 0, 1, 1, 1, 2, 3])
        ms = [self.matcher(name, lab) for lab in r.sample(labels, min(n, len(labels)))]
        style = r.random()
        if style < 0.07:
            return "{" + ",".join([f"__name__={q(name)}"] + ms) + "}"
        if style < 0.1:
            return "{" + ",".join([f"__name__=~{q(name[:6] + '.*')}"] + ms) + "}"
        return name + ("{" + ", ".join(ms) + "}" if ms else "")

    def modifiers(self, p=0.25):
        r = self.r
        out = ""
        if r.random() < p:
            out += " offset " + r.choice(["1m", "5m", "10m", "30s", "-2m", "1h"])
        if r.random() < p:
            out += " @ " + r.choice(["{AT:%d}" % r.randint(20, N_STEPS - 1), "start()", "end()",
                                     "{AT:%d}.5" % r.randint(20, N_STEPS - 2)])
        return out

    def vsel(self, fams=None):
        return self.selector(fams=fams) + self.modifiers(0.12)

    def msel(self, fams=None):
        return self.selector(fams=fams) + "[" + self.r.choice(DURATIONS) + "]" + self.modifiers(0.15)

    def subquery(self, depth):
        r = self.r
        inner = self.vector(depth - 1)
        rng = r.choice(["5m", "10m", "15m", "30m"])
        return f"({inner})[{rng}:{r.choice(SUB_STEPS)}]" + self.modifiers(0.1)

    def mvec(self, depth, fams=None):
        if depth > 0 and self.r.random() < 0.15:
            return self.subquery(depth)
        return self.msel(fams)

    # ---------- scalars ----------
    def scalar(self, depth=1):
        r = self.r
        k = r.random()
        if depth <= 0 or k < 0.5:
            return r.choice(["0", "1", "2", "-1", "0.5", "3.75", "-2.5", "10", "100", "1e3", "0x10",
                             "1e-3", "Inf", "-Inf", "NaN", "60", "0.25", "2"])
        if k < 0.65:
            return f"scalar({self.vector(depth - 1)})"
        if k < 0.75:
            return r.choice(["time()", "pi()", "-time()"])
        if k < 0.85:
            return f"scalar(sum({self.vector(depth - 1)}))"
        op = r.choice(ARITH[:-1] + [c + " bool" for c in CMP])
        return f"({self.scalar(depth - 1)} {op} {self.scalar(depth - 1)})"

    # ---------- vectors ----------
    def vector(self, depth=2, fams=None):
        r = self.r
        if depth <= 0 or r.random() < 0.2:
            return self.vsel(fams)
        k = r.randint(0, 22)
        d = depth - 1
        if k <= 3:
            f = r.choice(RANGE_FUNCS)
            fam = COUNTERS if f in ("rate", "irate", "increase", "resets") and r.random() < 0.8 else fams
            return f"{f}({self.mvec(depth, fam)})"
        if k == 4:
            return f"{r.choice(MATH_FUNCS)}({self.vector(d, fams)})"
        if k == 5:
            c = r.choice(["clamp", "clamp_min", "clamp_max", "round"])
            if c == "clamp":
                return f"clamp({self.vector(d, fams)}, {self.scalar(0)}, {self.scalar(0)})"
            return f"{c}({self.vector(d, fams)}, {self.scalar(0)})"
        if k in (6, 7, 8):
            return self.aggregation(d, fams)
        if k in (9, 10):
            return self.scalar_binop(d, fams)
        if k in (11, 12):
            return self.vector_binop(d)
        if k == 13:
            return self.label_fn(d, fams)
        if k == 14:
            return f"timestamp({self.vector(d, fams)})"
        if k == 15:
            return f"{r.choice(DATE_FUNCS)}({r.choice(['', self.vector(d, fams), 'vector(' + self.scalar(0) + ')'])})"
        if k == 16:
            return self.histogram_quantile()
        if k == 17:
            return r.choice([f"absent({self.vector(d, fams)})", f"vector({self.scalar(d)})",
                             f"-{self.vector(d, fams)}", f"({self.vector(d, fams)})"])
        if k == 18:
            return f"{r.choice(['sort', 'sort_desc'])}({self.vector(d, fams)})"
        if k == 19:
            return r.choice([
                f"predict_linear({self.mvec(depth, fams)}, {r.choice(['60', '300', '-120', '3600', '0'])})",
                f"holt_winters({self.mvec(depth, fams)}, {r.choice(['0.1', '0.5', '0.9'])}, {r.choice(['0.1', '0.5', '0.9'])})",
                f"quantile_over_time({r.choice(['0', '0.5', '0.9', '0.99', '1', '-1', '2'])}, {self.mvec(depth, fams)})",
            ])
        if k == 20:
            return f"{r.choice(RANGE_FUNCS)}({self.subquery(depth)})"
        return self.vsel(fams)

    def grouping(self, name_hint=None):
        r = self.r
        pool = ["job", "instance", "method", "code", "mode", "cpu", "location", "le", "env", "path", "kind", "__name__"]
        labs = r.sample(pool, r.choice([0, 1, 1, 2, 3]))
        return r.choice(["by", "without"]) + " (" + ", ".join(labs) + ")"

    def aggregation(self, depth, fams=None):
        r = self.r
        inner = self.vector(depth, fams)
        g = self.grouping() if r.random() < 0.7 else ""
        pre = r.random() < 0.5
        if r.random() < 0.3:
            op = r.choice(PARAM_AGGS)
            param = {"topk": r.choice(["1", "2", "3", "0", "100"]),
                     "bottomk": r.choice(["1", "2", "5"]),
                     "quantile": r.choice(["0", "0.1", "0.5", "0.75", "0.9", "1", "1.5", "-0.5"]),
                     "count_values": q(r.choice(["value", "v", "job"]))}[op]
            body = f"({param}, {inner})"
        else:
            op = r.choice(AGGS)
            body = f"({inner})"
        if not g:
            return op + body
        return f"{op} {g} {body}" if pre else f"{op}{body} {g}"

    def scalar_binop(self, depth, fams=None):
        r = self.r
        op = r.choice(ARITH + CMP + [c + " bool" for c in CMP])
        v, s = self.vector(depth, fams), self.scalar(0)
        return f"{v} {op} {s}" if r.random() < 0.6 else f"{s} {op} {v}"

    def same_family_pair(self, depth):
        r = self.r
        name = r.choice(COUNTERS + GAUGES)
        base = self.selector(name)
        forms = [base, base + " offset 5m", f"rate({base}[5m])", f"delta({base}[10m])",
                 f"avg_over_time({base}[5m])", f"abs({base})", base + " @ {AT:%d}" % r.randint(30, N_STEPS - 1)]
        return r.choice(forms), r.choice(forms)

    def vector_binop(self, depth):
        r = self.r
        kind = r.random()
        ops = ARITH + CMP + [c + " bool" for c in CMP] + SETOPS
        op = r.choice(ops)
        if kind < 0.45:
            a, b = self.same_family_pair(depth)
            match = r.choice(["", "", " ignoring(code)", " on(job, instance, method, code)", " on()"
                              if op in SETOPS else ""])
            return f"{a} {op}{match} {b}"
        if kind < 0.7:
            g = r.choice(["job", "instance", "job, instance", "location", "mode", "le"])
            a = f"sum by ({g}) ({self.vector(depth)})"
            b = f"{r.choice(['max', 'min', 'count', 'avg'])} by ({g}) ({self.vector(depth)})"
            return f"{a} {op} {b}" if r.random() < 0.7 else f"{a} {op} on({g}) {b}"
        joins = [
            "http_requests_total * on(job, instance) group_left(version) build_info",
            "rate(http_requests_total[5m]) / on(job, instance) group_left up",
            "up * on(job, instance) group_right(method) http_requests_total",
            "sum by (job, instance) (rate(http_requests_total[5m])) / ignoring(method) group_left sum by (job, instance, method) (rate(http_requests_total[5m]))",
            "rate(http_requests_total[5m]) + on(job) up",
            "http_request_duration_seconds_sum / on(job, instance) http_request_duration_seconds_count",
            "http_request_duration_seconds_bucket / ignoring(le) group_left http_request_duration_seconds_count",
            "node_cpu_seconds_total / ignoring(mode) group_left sum without(mode) (node_cpu_seconds_total)",
            "up == on(job, instance) group_left(version) build_info",
            "up and on(job) build_info{version=\"1.5.0-rc.1\"}",
            "queue_length unless on(job) up",
            "temperature_celsius or on(location) gappy_gauge",
        ]
        return r.choice(joins)

    def label_fn(self, depth, fams=None):
        r = self.r
        v = self.vector(depth, fams)
        if r.random() < 0.6:
            src = r.choice(["instance", "job", "path", "location", "__name__", "missing", "q"])
            regex = r.choice(["(.*)", "(.*):.*", "([^.]+)\\\\..*", "(.*)", "x(.*)", "/api/(.*)", "(.+)", "", "(?P<n>.)", "(.*"])
            repl = r.choice(["$1", "${1}-x", "fixed", "", "$2", "$n", "a$1b"])
            dst = r.choice(["host", "job", "__name__", "new_label", "instance", "9bad"])
            return f"label_replace({v}, {q(dst)}, {q(repl)}, {q(src)}, {q(regex)})"
        srcs = ", ".join(q(s) for s in r.sample(["job", "instance", "method", "code", "location", "missing"], r.randint(0, 3)))
        dst = r.choice(["joined", "job", "__name__", "x"])
        sep = r.choice(["-", "", ":", "/"])
        return f"label_join({v}, {q(dst)}, {q(sep)}" + (", " + srcs if srcs else "") + ")"

    def histogram_quantile(self):
        r = self.r
        qv = r.choice(["0.5", "0.9", "0.99", "0", "1", "-0.1", "1.1", "0.75", "NaN"])
        inner = r.choice([
            f"rate({HIST}[5m])", f"rate({HIST}[1m])", f"sum by (le) (rate({HIST}[5m]))",
            f"sum by (job, le) (rate({HIST}[10m]))", f"{HIST}", f"{HIST}{{job=\"api\"}}",
            f"sum without (instance) (increase({HIST}[15m]))", f"rate({HIST}{{le!=\"+Inf\"}}[5m])",
            f"sum by (instance) (rate({HIST}[5m]))",
        ])
        return f"histogram_quantile({qv}, {inner})"


def coverage(g):
    """The fixed part of the corpus: (category, query) covering every feature at least once."""
    out = []
    add = lambda cat, qs: out.extend((cat, x) for x in qs)  # noqa: E731
    add("selector", [
        "http_requests_total", 'http_requests_total{job="api"}', 'http_requests_total{job!="api"}',
        'http_requests_total{method=~"G.*"}', 'http_requests_total{code!~"2.."}',
        'http_requests_total{job="api", code=~"5..|404", method!="POST"}', '{__name__="up"}',
        '{__name__=~"http_.*_total"}', '{job="node"}', '{__name__=~"magnitudes|special_values"}',
        'up{instance=~"10\\\\.0\\\\.0\\\\.1:.*"}', 'temperature_celsius{location=~"(?i)LAB"}',
        'http_requests_total{job=~""}', 'http_requests_total{nothere=""}', 'http_requests_total{job!~""}',
        'odd_labels', 'odd_labels{q="say \\"hi\\"\\\\now"}', 'odd_labels{u=~"gr.*"}',
        "special_values", "magnitudes", "stale_gauge", "gappy_gauge", "batch_jobs_processed_total",
        "nonexistent_metric", "http_requests_total offset 5m", "http_requests_total offset -5m",
        "up @ {AT:100}", "up @ start()", "up @ end()", "stale_gauge @ {AT:125}", "stale_gauge @ {AT:119}",
        "gappy_gauge @ {AT:100}", "up @ {AT:100} offset 10m", "up offset 10m @ {AT:100}",
        "temperature_celsius @ {AT:60}.250", "up @ {AT:0}", "up @ {AT:300}",
        'http_requests_total{job="api"}[1m]', "temperature_celsius[2m]", "stale_gauge[5m]",
        "special_values[1m]", "up[1m] offset 2m", "up[1m] @ {AT:50}", "magnitudes[30s]",
        "gappy_gauge[10m] @ {AT:110}", "odd_labels[1m]", "slow_gauge", "slow_gauge[5m]", "vanishing_gauge",
        "vanishing_gauge @ {AT:165}", "vanishing_gauge @ {AT:170}", "slow_counter_total[10m]",
    ])
    for f in RANGE_FUNCS:
        fams = ["http_requests_total", "node_cpu_seconds_total", "temperature_celsius", "stale_gauge",
                "gappy_gauge", "special_values", "batch_jobs_processed_total", "magnitudes", "slow_counter_total",
                "vanishing_gauge"]
        add(f"func:{f}", [f"{f}({m}[{d}])" for m, d in zip(fams, ["5m", "1m", "10m", "5m", "2m", "3m", "5m", "1m",
                                                                  "5m", "5m"])])
        add(f"func:{f}", [f'{f}(http_requests_total{{job="api"}}[5m] offset 5m)',
                          f"{f}(up[10m] @ {{AT:150}})", f"{f}(gappy_gauge[30s])",
                          f"{f}(rate(http_requests_total[5m])[10m:1m])", f"{f}(nonexistent[5m])"])
    for f in MATH_FUNCS:
        add(f"func:{f}", [f"{f}(temperature_celsius)", f"{f}(special_values)", f"{f}(magnitudes)",
                          f"{f}(up - 0.5)", f"{f}(temperature_celsius / 30)"])
    add("func:round", ["round(temperature_celsius, 0.5)", "round(temperature_celsius, 10)",
                       "round(temperature_celsius, -1)", "round(special_values, 0.1)",
                       "round(temperature_celsius, 0)", "round(queue_length / 3, 1/3)"])
    for c in ("clamp", "clamp_min", "clamp_max"):
        args = ["0, 10", "-5, 5", "5, -5", "NaN, 1"] if c == "clamp" else ["0", "-10", "NaN", "Inf"]
        add(f"func:{c}", [f"{c}(temperature_celsius, {a})" for a in args] + [f"{c}(special_values, {args[0]})"])
    for f in DATE_FUNCS:
        add(f"func:{f}", [f"{f}()", f"{f}(vector(0))", f"{f}(vector(1709251199))", f"{f}(vector(951782400))",
                          f"{f}(timestamp(up))", f"{f}(special_values)", f"{f}(vector(-86400))",
                          f"{f}(vector(4102444800))"])
    add("func:time", ["time()", "time() - 3600", "vector(time())", "time() > 0", "timestamp(vector(time()))"])
    add("func:timestamp", ["timestamp(up)", "timestamp(stale_gauge)", "timestamp(gappy_gauge)",
                           "timestamp(up offset 5m)", "timestamp(up @ {AT:77})", "timestamp(sum(up))",
                           "time() - timestamp(temperature_celsius)"])
    add("func:timestamp", ["timestamp(stale_gauge @ end())", "timestamp(up @ start())", "timestamp(gappy_gauge @ {AT:150})",
                           "timestamp(slow_gauge @ {AT:200}.5)", "timestamp(up offset 5m @ {AT:120})"])
    add("regex", ['up{job=~"a\\N"}', 'up{job=~`a\\N`}', 'up{job=~`(?<n>api)`}', 'up{job=~`(?P<n>api)`}',
                  'up{job=~`a++`}', 'up{job=~`(?=a)pi`}', 'up{job=~`\\d+`}', 'up{job=~`\\w+`}',
                  'up{instance=~`10\\.0\\.0\\.[12]:\\d{4}`}', 'up{job=~"(?i)API"}', 'up{job=~"ap|"}',
                  'up{job=~`a{2,1}`}', 'up{job=~`[[:alpha:]]+`}', 'up{job=~`\\pL+`}', 'up{job=~"x*"}',
                  'up{job!~"(api|web)"}', 'up{job=~"^api$"}', 'up{job=~`\\Qap\\E.*`}', 'up{job=~`a\\z`}',
                  'label_replace(up, "x", "$1", "instance", `(\\d+)\\.`)', 'up{job="\\u0061pi"}',
                  "up{job='api'}", 'up{job="\\x61pi"}', 'up{job="a\\pi"}'])
    add("agg:count_values", ['count_values("v", asinh(node_cpu_seconds_total))', 'count_values("v", atan(temperature_celsius))',
                             'count_values("v", exp(temperature_celsius / 7))', 'count_values("v", magnitudes)',
                             'count_values("v", rate(http_requests_total[5m]))'])
    add("func:vector", ["vector(1)", "vector(pi())", "vector(scalar(up))", "vector(NaN)", "vector(-Inf)"])
    add("func:scalar", ["scalar(up)", 'scalar(up{job="node", instance="n1:9100"})', "scalar(sum(up))",
                        "scalar(nonexistent)", "scalar(vector(3)) * 2", "up * scalar(count(up))"])
    add("func:pi", ["pi()", "pi() * 2", "vector(pi())"])
    add("func:sort", ["sort(temperature_celsius)", "sort(special_values)", "sort(rate(http_requests_total[5m]))",
                      "sort(up)", "sort(queue_length)"])
    add("func:sort_desc", ["sort_desc(temperature_celsius)", "sort_desc(special_values)",
                           "sort_desc(sum by (job) (rate(http_requests_total[5m])))", "sort_desc(queue_length)"])
    add("func:absent", ["absent(nonexistent)", 'absent(nonexistent{job="x", instance=~"y"})',
                        'absent(nonexistent{job="x", job="y"})', "absent(up)", "absent(sum(nonexistent))",
                        'absent(stale_gauge{id="1"})', 'absent(gappy_gauge{instance="g1"})'])
    add("func:absent_over_time", ['absent_over_time(nonexistent{job="a"}[5m])', 'absent_over_time(stale_gauge{id="2"}[5m])'])
    add("func:predict_linear", ["predict_linear(temperature_celsius[10m], 600)", "predict_linear(http_requests_total[5m], 3600)",
                                "predict_linear(gappy_gauge[5m], 60)", "predict_linear(special_values[5m], 60)",
                                "predict_linear(up[5m], -300)"])
    add("func:holt_winters", ["holt_winters(temperature_celsius[10m], 0.5, 0.5)", "holt_winters(queue_length[5m], 0.1, 0.9)",
                              "holt_winters(special_values[5m], 0.3, 0.3)", "holt_winters(up[5m], 0, 0.5)",
                              "holt_winters(up[5m], 0.5, 1)"])
    add("func:quantile_over_time", [f"quantile_over_time({x}, temperature_celsius[5m])" for x in ("0", "0.5", "0.9", "1", "-1", "1.5", "NaN")]
        + ["quantile_over_time(0.5, special_values[5m])"])
    add("func:histogram_quantile", [f"histogram_quantile({x}, rate({HIST}[5m]))" for x in ("0.5", "0.9", "0.99", "0", "1", "-1", "2", "NaN")]
        + [f"histogram_quantile(0.9, sum by (le) (rate({HIST}[5m])))",
           f"histogram_quantile(0.9, sum by (job, le) (rate({HIST}[10m])))",
           f"histogram_quantile(0.5, {HIST})", f'histogram_quantile(0.5, {HIST}{{le!="+Inf"}})',
           f"histogram_quantile(0.5, sum by (instance) (rate({HIST}[5m])))",
           f'histogram_quantile(0.5, rate({HIST}{{le=~"0.1|1|\\\\+Inf"}}[5m]))',
           "histogram_quantile(0.5, up)"])
    add("func:label_replace", [
        'label_replace(up, "host", "$1", "instance", "(.*):.*")',
        'label_replace(up, "host", "$1", "instance", "nomatch(.*)")',
        'label_replace(up, "job", "", "job", ".*")',
        'label_replace(up, "job", "x", "job", ".*")',
        'label_replace(path_hits_total, "api", "${1}_v", "path", "/api/(.*)")',
        'label_replace(up, "__name__", "renamed", "", "")',
        'label_replace(up, "instance", "same", "", "")',
        'label_replace(up, "bad-name", "x", "job", ".*")',
        'label_replace(up, "x", "$1", "job", "(.*")',
        'label_replace(temperature_celsius, "loc", "$1$2", "location", "(.)(.)")',
    ])
    add("func:label_join", [
        'label_join(up, "ji", "-", "job", "instance")', 'label_join(up, "job", "", "instance")',
        'label_join(up, "new", ",")', 'label_join(up, "new", "/", "missing", "job")',
        'label_join(up, "__name__", "_", "job", "job")', 'label_join(up, "1x", "-", "job")',
    ])
    add("func:native-histogram", ["histogram_count(up)", "histogram_sum(rate(http_requests_total[5m]))",
                                  "histogram_fraction(0, 1, up)"])
    for op in ARITH:
        add(f"binop:{op}", [f"temperature_celsius {op} 2", f"2 {op} temperature_celsius", f"3 {op} 2",
                            f"special_values {op} special_values", f"up {op} on(job, instance) queue_length",
                            f"rate(http_requests_total[5m]) {op} rate(http_requests_total[5m] offset 5m)",
                            f"magnitudes {op} -1.5", f"temperature_celsius {op} 0", f"0 {op} special_values"])
    for op in CMP:
        add(f"binop:{op}", [f"temperature_celsius {op} 20", f"20 {op} temperature_celsius",
                            f"temperature_celsius {op} bool 20", f"1 {op} bool 2", f"1 {op} 2",
                            f"special_values {op} special_values", f"special_values {op} bool 0",
                            f"queue_length {op} queue_length offset 5m",
                            f"queue_length {op} bool queue_length offset 5m",
                            f"up {op} on(job, instance) group_left(version) build_info",
                            f"NaN {op} bool NaN"])
    for op in SETOPS:
        add(f"binop:{op}", [f"up {op} queue_length", f"temperature_celsius {op} on(location) temperature_celsius{{sensor=\"a\"}}",
                            f"http_requests_total {op} ignoring(code, method) up == 0",
                            f"queue_length {op} on(job) up", f"up {op} on() vector(1)", f"vector(1) {op} vector(2)",
                            f"nonexistent {op} up", f"up {op} nonexistent", f"stale_gauge {op} on(id) stale_gauge offset 20m"])
    add("binop:precedence", ["1 + 2 * 3 ^ 2 ^ 2", "-2 ^ 2", "2 ^ -1", "up + up * 2 - up / 2", "(1 + 2) * 3",
                             "-up", "+up", "- - 1", "up > 0 and up < 2 or vector(5)", "1 + 2 > bool 2 + 0",
                             "2 * 3 % 4", "temperature_celsius > 0 unless temperature_celsius > 20 or queue_length"])
    add("binop:matching", [
        "http_requests_total * on(job, instance) group_left(version) build_info",
        "http_requests_total * on(job, instance) group_left build_info",
        "build_info * on(job, instance) group_right(version) http_requests_total",
        "sum by (job, instance) (http_requests_total) / on(job, instance) group_left up",
        "node_cpu_seconds_total / ignoring(mode) group_left sum without(mode) (node_cpu_seconds_total)",
        "http_request_duration_seconds_bucket / ignoring(le) group_left http_request_duration_seconds_count",
        "sum by (job) (up) * on(job) group_right http_requests_total",
        "up + ignoring(instance) sum by (job) (up)",
        "up + on(job) group_left sum by (job) (up)",
        "rate(http_requests_total[5m]) / ignoring(code) group_left sum without(code) (rate(http_requests_total[5m]))",
        "up * on(job, instance) group_left(version, goversion) build_info",
        "up * on(job, instance) group_left(job) build_info",
    ])
    for a in AGGS:
        add(f"agg:{a}", [f"{a}(http_requests_total)", f"{a} by (job) (http_requests_total)",
                         f"{a} without (instance) (http_requests_total)", f"{a}(rate(http_requests_total[5m])) by (code)",
                         f"{a}(special_values)", f"{a} by (kind) (special_values)", f"{a}(temperature_celsius) by (__name__)",
                         f"{a} by () (up)", f"{a} without () (up)", f"{a}(magnitudes)", f"{a}(nonexistent)",
                         f"{a} by (location) (temperature_celsius)", f"{a} without (job, instance, method, code) (http_requests_total)"])
    for a in ("topk", "bottomk"):
        add(f"agg:{a}", [f"{a}(3, temperature_celsius)", f"{a}(1, http_requests_total) by (job)",
                         f"{a} by (job) (2, rate(http_requests_total[5m]))", f"{a}(0, up)", f"{a}(-1, up)",
                         f"{a}(100, queue_length)", f"{a}(2, special_values)", f"{a}(2.7, temperature_celsius)",
                         f"{a}(scalar(count(up)) - 6, up)", f"sum({a}(2, temperature_celsius))", f"{a}(1, nonexistent)"])
    add("agg:quantile", [f"quantile({x}, temperature_celsius)" for x in ("0", "0.25", "0.5", "0.9", "1", "-1", "2", "NaN")]
        + ["quantile by (job) (0.9, rate(http_requests_total[5m]))", "quantile(0.5, special_values)"])
    add("agg:count_values", ['count_values("value", up)', 'count_values("v", queue_length) by (job)',
                             'count_values("job", up)', 'count_values("x", special_values)',
                             'count_values("t", temperature_celsius)', 'count_values("m", magnitudes)',
                             'count_values("__name__", up)', 'count_values("job", up) by (job)'])
    add("subquery", ["rate(http_requests_total[5m])[10m:1m]", "max_over_time(rate(http_requests_total[1m])[10m:])",
                     "avg_over_time(temperature_celsius[10m:30s])", "min_over_time(sum(up)[30m:5m])",
                     "temperature_celsius[5m:1m] offset 5m", "sum_over_time(up[5m:1m] @ {AT:150})",
                     "deriv(sum(rate(http_requests_total[5m]))[15m:1m])", "max_over_time(deriv(rate(http_requests_total[1m])[5m:1m])[10m:])",
                     "count_over_time(stale_gauge[10m:1m])", "last_over_time(gappy_gauge[10m:45s])",
                     "time()[5m:1m]" , "rate(up[5m:7s])", "absent_over_time(nonexistent[5m:1m])",
                     "quantile_over_time(0.5, (up * 2)[5m:20s])"])
    add("error:parse", ["sum(", "up{", "up{job=}", "1 +", "rate(up[5m]", "up[5x]", "unknown_fn(up)", "up @ foo",
                        "sum by job (up)", '{job=~".*"}', "{}", "up offset", "1 > 2", "\"unterminated",
                        "up[5m:1m:1m]", "topk(up)", "label_replace(up)", "holt_winters(up[5m], 0.5)",
                        "sum(up) by (job) by (instance)", "up and 1", "1 and up",
                        "up + on(job) group_left group_right up", "up[0m]", "rate(up[5m] offset 1m offset 2m)"])
    add("error:type", ["rate(up)", "sum(up[5m])", "up[5m] + 1", "abs(up[5m])", "scalar(up[5m])",
                       "time(up)", "vector(up)", "histogram_quantile(up, up)", "topk(\"a\", up)",
                       'count_values(1, up)', "rate(sum(up))", "\"a\" + 1", "-\"s\"", "up[5m][5m]",
                       "predict_linear(up, 60)", "quantile_over_time(up, up[5m])", "(up[5m])"])
    add("error:exec", ["http_requests_total + on(job) up", "up + on(job) http_requests_total",
                       "up * on(job) group_left build_info",
                       'label_replace(up, "instance", "x", "", "")',
                       'abs({__name__=~"http_request_duration_seconds_(sum|count)"})',
                       'rate({__name__=~"http_request_duration_seconds_(sum|count)"}[5m])',
                       "http_request_duration_seconds_count / on(job, instance) group_left http_requests_total",
                       "holt_winters(up[5m], 0, 0.5)", 'count_values("bad-label", up)',
                       'label_replace(up, "job", "x", "job", ".*")'])
    add("string", ['"hello"', '"a\\nb"', "'single'", "`raw\\n`", "1", "-1.5e3", "0x1F", "Inf", "NaN", "-Inf"])
    return out


def build(seed, metrics, n):
    g = Gen(seed, metrics)
    corpus = coverage(g)
    seen = {x for _, x in corpus}
    tries = 0
    while len(corpus) < n and tries < n * 20:
        tries += 1
        depth = g.r.choice([1, 2, 2, 3])
        x = g.vector(depth) if g.r.random() < 0.92 else g.scalar(depth)
        if len(x) > 400 or x in seen:
            continue
        seen.add(x)
        corpus.append(("random:" + categorize(x), x))
    return corpus[:n] if n < len(corpus) else corpus


ALL_FUNCS = set(RANGE_FUNCS + MATH_FUNCS + DATE_FUNCS + [
    "clamp", "clamp_min", "clamp_max", "round", "timestamp", "time", "vector", "scalar", "absent", "sort",
    "sort_desc", "predict_linear", "holt_winters", "quantile_over_time", "histogram_quantile", "label_replace",
    "label_join", "pi", "histogram_count", "histogram_sum", "histogram_fraction"])

_CALL = re.compile(r"\b([a-z_][a-z0-9_]*)\s*(?:by\s*\([^)]*\)\s*|without\s*\([^)]*\)\s*)?\(")


def categorize(x):
    """The outermost feature of a query, e.g. func:rate, agg:sum, binop:+, selector."""
    m = _CALL.match(x.strip().lstrip("(-"))
    if m:
        name = m.group(1)
        allf = RANGE_FUNCS + MATH_FUNCS + DATE_FUNCS + ["clamp", "clamp_min", "clamp_max", "round", "timestamp",
                                                        "vector", "scalar", "absent", "sort", "sort_desc",
                                                        "predict_linear", "holt_winters", "quantile_over_time",
                                                        "histogram_quantile", "label_replace", "label_join"]
        if name in AGGS + PARAM_AGGS:
            return "agg:" + name
        if name in allf:
            return "func:" + name
    return "expr"


_FEATURE = re.compile(r"\b(by|without|on|ignoring|group_left|group_right|bool|offset|and|or|unless|atan2)\b"
                      r"|@|(\[\w+:\w*\])|([a-z_]+)\s*\(")


def features(x):
    """Every function, aggregation and modifier a query uses (for the per-feature report)."""
    out = set()
    stripped = re.sub(r'"(\\.|[^"\\])*"', '""', x)
    for m in _FEATURE.finditer(stripped):
        if m.group(1):
            out.add("kw:" + m.group(1))
        elif m.group(2):
            out.add("subquery")
        elif m.group(3):
            name = m.group(3)
            if name in AGGS + PARAM_AGGS:
                out.add("agg:" + name)
            elif name in ("start", "end"):
                out.add("kw:@")
            elif name in ALL_FUNCS:
                out.add("func:" + name)
        else:
            out.add("kw:@")
    return out
