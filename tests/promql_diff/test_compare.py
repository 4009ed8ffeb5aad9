#!/usr/bin/env python3
"""test_compare owns the unit tests of the response comparator: each kind of difference the
differential test promises to catch is caught, and each allowed variation is accepted.

Run: python3 tests/promql_diff/test_compare.py
"""
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import compare  # noqa: E402


def ok(rt, result, code=200):
    doc = {"status": "success", "data": {"resultType": rt, "result": result}}
    return code, doc, json.dumps(doc).encode()


def err(etype, code=400, msg="boom"):
    doc = {"status": "error", "errorType": etype, "error": msg}
    return code, doc, json.dumps(doc).encode()


def vec(*items):
    return [{"metric": m, "value": [t, v]} for m, t, v in items]


def mat(*items):
    return [{"metric": m, "values": [list(p) for p in pts]} for m, pts in items]


A = {"__name__": "up", "job": "a"}
B = {"__name__": "up", "job": "b"}
C = {"__name__": "up", "job": "c"}


class CompareTest(unittest.TestCase):
    def same(self, q, kind, x, y):
        self.assertEqual(compare.compare(q, kind, x, y), [])

    def differ(self, q, kind, x, y):
        self.assertNotEqual(compare.compare(q, kind, x, y), [])

    def test_status_and_error_type(self):
        self.differ("up", "instant", ok("vector", []), err("bad_data"))
        self.differ("up", "instant", err("bad_data"), ok("vector", []))
        self.same("up(", "instant", err("bad_data", msg="x"), err("bad_data", msg="y"))
        self.differ("up(", "instant", err("bad_data"), err("execution", 422))
        self.differ("up", "instant", ok("vector", []), (404, None, b"not found"))

    def test_result_type_and_labels(self):
        self.differ("up", "instant", ok("vector", []), ok("matrix", []))
        self.differ("up", "instant", ok("vector", vec((A, 1, "1"))), ok("vector", vec((B, 1, "1"))))
        self.differ("up", "instant", ok("vector", vec((A, 1, "1"))),
                    ok("vector", vec((dict(A, extra="x"), 1, "1"))))
        self.differ("up", "instant", ok("vector", vec((A, 1, "1"), (B, 1, "1"))), ok("vector", vec((A, 1, "1"))))

    def test_values_and_timestamps(self):
        self.same("up", "instant", ok("vector", vec((A, 10, "1"))), ok("vector", vec((A, 10, "1.0000000000001"))))
        self.differ("up", "instant", ok("vector", vec((A, 10, "1"))), ok("vector", vec((A, 10, "1.00001"))))
        self.differ("up", "instant", ok("vector", vec((A, 10, "1"))), ok("vector", vec((A, 10.5, "1"))))
        self.same("up", "instant", ok("vector", vec((A, 10, "NaN"))), ok("vector", vec((A, 10, "NaN"))))
        self.same("up", "instant", ok("vector", vec((A, 10, "+Inf"))), ok("vector", vec((A, 10, "+Inf"))))
        self.differ("up", "instant", ok("vector", vec((A, 10, "+Inf"))), ok("vector", vec((A, 10, "-Inf"))))
        self.differ("up", "instant", ok("vector", vec((A, 10, "NaN"))), ok("vector", vec((A, 10, "0"))))
        self.differ("up", "instant", ok("vector", vec((A, 10, "1"))), ok("vector", vec((A, 10, "inf"))))
        self.differ("up", "instant", ok("vector", vec((A, 10, "1"))), ok("vector", [{"metric": A, "value": [10, 1]}]))
        self.differ("1", "instant", ok("scalar", [10, "1"]), ok("scalar", [10, "2"]))
        self.differ('"a"', "instant", ok("string", [10, "a"]), ok("string", [10, "b"]))

    def test_vector_order(self):
        x = ok("vector", vec((A, 1, "1"), (B, 1, "2")))
        y = ok("vector", vec((B, 1, "2"), (A, 1, "1")))
        self.same("up", "instant", x, y)
        self.differ("sort(up)", "instant", x, y)
        self.differ("topk(2, up)", "instant", x, y)
        self.same("sum(sort(up))", "instant", x, y)
        tie1 = ok("vector", vec((A, 1, "1"), (B, 1, "1"), (C, 1, "3")))
        tie2 = ok("vector", vec((B, 1, "1"), (A, 1, "1"), (C, 1, "3")))
        self.same("sort(up)", "instant", tie1, tie2)

    def test_matrix_order(self):
        x = ok("matrix", mat((A, [(1, "1"), (2, "2")]), (B, [(1, "1")])))
        y = ok("matrix", mat((B, [(1, "1")]), (A, [(1, "1"), (2, "2")])))
        self.differ("up", "range", x, y)
        self.same("up[5m]", "instant", x, y)
        self.differ("up", "range", x, ok("matrix", mat((A, [(1, "1"), (2, "2")]), (B, [(1, "1"), (2, "1")]))))
        self.differ("up", "range", x, ok("matrix", mat((A, [(1, "1"), (3, "2")]), (B, [(1, "1")]))))

    def test_topk_ties(self):
        x = ok("vector", vec((A, 1, "5"), (B, 1, "5")))
        y = ok("vector", vec((A, 1, "5"), (C, 1, "5")))
        self.same("topk(2, up)", "instant", x, y)
        self.differ("up", "instant", x, y)
        z = ok("vector", vec((A, 1, "5"), (C, 1, "4")))
        self.differ("topk(2, up)", "instant", x, z)

    def test_topk_groups(self):
        a1, a2 = dict(A, g="1"), dict(B, g="1")
        b1 = dict(C, g="2")
        x = ok("vector", vec((a1, 1, "9"), (a2, 1, "3"), (b1, 1, "5")))
        y = ok("vector", vec((b1, 1, "5"), (a1, 1, "9"), (a2, 1, "3")))
        z = ok("vector", vec((b1, 1, "5"), (a2, 1, "3"), (a1, 1, "9")))
        self.same("topk by (g) (2, up)", "instant", x, y)       # group order is not defined
        self.differ("topk by (g) (2, up)", "instant", x, z)     # order inside a group is
        self.differ("sort_desc(up)", "instant", x, y)

    def test_unstable_tolerance(self):
        x = ok("vector", vec((A, 1, "12.523343921534433")))
        y = ok("vector", vec((A, 1, "12.523344219835812")))
        self.same("stdvar(timestamp(up))", "instant", x, y)
        self.differ("sum(timestamp(up))", "instant", x, y)

    def test_nested_at_subquery(self):
        q = 'absent_over_time((min_over_time((g{i="1"} @ 1795760415)[30m:1m] @ end()))[30m:45s])'
        self.assertTrue(compare.nested_at_subquery(q))
        self.assertTrue(compare.nested_at_subquery("max_over_time((rate(x[5m] @ 100)[10m:1m] offset 1m @ 200)[1h:])"))
        # one level, or no @ inside the inner subquery, or no enclosing subquery: compared fully
        self.assertFalse(compare.nested_at_subquery("min_over_time((x @ 100)[30m:1m] @ end())"))
        self.assertFalse(compare.nested_at_subquery("(min_over_time((x)[30m:1m] @ end()))[30m:45s]"))
        self.assertFalse(compare.nested_at_subquery("(min_over_time((x @ 100)[30m:1m]))[30m:45s]"))
        self.assertFalse(compare.nested_at_subquery("rate(x[5m] @ 100)"))
        x = ok("vector", vec(({}, 1, "1")))
        self.same(q, "instant", x, ok("vector", []))
        self.differ(q, "instant", x, ok("matrix", []))
        self.differ(q, "instant", x, err("bad_data"))
        self.differ("min_over_time((x @ 100)[30m:1m] @ end())", "instant", x, ok("vector", []))

    def test_ordered_query(self):
        self.assertIsNotNone(compare.ordered_query("sort_desc(rate(x[5m]))"))
        self.assertIsNotNone(compare.ordered_query("topk by (job) (2, x)"))
        self.assertIsNotNone(compare.ordered_query("bottomk(2, x) without (a)"))
        self.assertIsNone(compare.ordered_query("sort(x) + 1"))
        self.assertIsNone(compare.ordered_query("sum(topk(1, x))"))


if __name__ == "__main__":
    unittest.main(verbosity=1)
