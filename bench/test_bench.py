#!/usr/bin/env python3
"""test_bench owns the unit tests of the benchmark's pure logic: answer normalisation and
comparison (a wrong answer must be caught), time-window choice (no edge on a sample),
aggregation and ratios. Runs without any server: python3 bench/test_bench.py"""
import math
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_queries as bq  # noqa: E402
import bench_report as br  # noqa: E402


def vec(*items):
    return {"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": m, "value": [1.5, v]} for m, v in items]}}


class CompareTest(unittest.TestCase):
    def test_equal_vectors_in_any_order(self):
        a = bq.normalise("query", vec(({"a": "1"}, "2"), ({"a": "2"}, "3")))
        b = bq.normalise("query", vec(({"a": "2"}, "3"), ({"a": "1"}, "2")))
        self.assertIsNone(bq.diff(a, b))

    def test_value_difference_found(self):
        a = bq.normalise("query", vec(({"a": "1"}, "2")))
        b = bq.normalise("query", vec(({"a": "1"}, "2.001")))
        self.assertIn("2.0", bq.diff(a, b))

    def test_last_digit_noise_tolerated(self):
        a = bq.normalise("query", vec(({"a": "1"}, "0.15733333333332108")))
        b = bq.normalise("query", vec(({"a": "1"}, "0.15733333333332106")))
        self.assertIsNone(bq.diff(a, b))

    def test_nan_equals_nan_but_not_number(self):
        a = bq.normalise("query", vec(({}, "NaN")))
        self.assertIsNone(bq.diff(a, bq.normalise("query", vec(({}, "NaN")))))
        self.assertIsNotNone(bq.diff(a, bq.normalise("query", vec(({}, "1")))))

    def test_missing_series_found(self):
        a = bq.normalise("query", vec(({"a": "1"}, "2"), ({"a": "2"}, "2")))
        b = bq.normalise("query", vec(({"a": "1"}, "2")))
        self.assertIn("2 vs 1 series", bq.diff(a, b))

    def test_matrix_point_and_length(self):
        def mat(points):
            return {"status": "success", "data": {"resultType": "matrix", "result": [
                {"metric": {"x": "y"}, "values": points}]}}
        a = bq.normalise("query", mat([[1, "1"], [2, "2"]]))
        self.assertIsNone(bq.diff(a, bq.normalise("query", mat([[1, "1"], [2, "2"]]))))
        self.assertIn("point", bq.diff(a, bq.normalise("query", mat([[1, "1"], [3, "2"]]))))
        self.assertIn("points", bq.diff(a, bq.normalise("query", mat([[1, "1"]]))))

    def test_series_and_label_sets(self):
        s1 = bq.normalise("series", {"status": "success", "data": [{"__name__": "a"}, {"__name__": "b"}]})
        s2 = bq.normalise("series", {"status": "success", "data": [{"__name__": "a"}]})
        self.assertIsNotNone(bq.diff(s1, s2))
        l1 = bq.normalise("labels", {"status": "success", "data": ["x", "y"]})
        self.assertIsNone(bq.diff(l1, {"y", "x"}))

    def test_malformed_is_none(self):
        self.assertIsNone(bq.normalise("query", {"status": "success", "data": {"resultType": "vector"}}))
        self.assertIsNone(bq.normalise("query", {"status": "success", "data": {"resultType": "string",
                                                                              "result": [1, "x"]}}))


class WindowTest(unittest.TestCase):
    def test_no_window_edge_on_a_sample(self):
        w = bq.Workload(10, 480, 15000, 1_700_000_000_123)
        eval_ms = w.eval_s * 1000
        self.assertTrue(w.end_ms < eval_ms < w.end_ms + w.interval_ms)
        window_ms = int(w.full_window[:-1]) * 1000
        left = eval_ms - window_ms
        self.assertLess(left, w.start_ms)  # covers the first sample
        self.assertGreater(left, w.start_ms - w.interval_ms)  # and nothing before it could exist
        for q in bq.query_set(w):
            if "start" in q.params and q.path.endswith("query_range"):
                start_ms = float(q.params["start"]) * 1000
                self.assertNotEqual((start_ms - w.start_ms) % w.interval_ms, 0)


class AggregateTest(unittest.TestCase):
    def test_median_range_and_bad_cells(self):
        fig = br.Figure("x", "x", "ms", "lower")
        rounds = [{"metricstor": {"figures": {"x": v}, "bad": {}}, "prometheus": {"figures": {"x": 2.0}, "bad": {}}}
                  for v in (1.0, 3.0, 2.0)]
        rounds[1]["metricstor"] = {"figures": {}, "bad": {"x": "WRONG"}}
        agg = br.aggregate(rounds, ["metricstor", "prometheus"], [fig])
        cell = agg["metricstor"]["x"]
        self.assertEqual((cell["median"], cell["min"], cell["max"], cell["n"]), (1.5, 1.0, 2.0, 2))
        self.assertIn("WRONG in 1/3", br.fmt_cell(fig, cell, 3))
        # a figure that was wrong in any round gets no ratio: a broken target must not look fast
        self.assertIsNone(br.ratio(agg, fig, "prometheus"))

    def test_ratio_marks_wrong_side(self):
        lower = br.Figure("x", "x", "ms", "lower")
        higher = br.Figure("y", "y", "samples/s", "higher")
        self.assertIn("✗", br.fmt_ratio(2.0, lower))
        self.assertNotIn("✗", br.fmt_ratio(0.5, lower))
        self.assertIn("✗", br.fmt_ratio(0.5, higher))
        self.assertTrue(math.isclose(
            br.ratio({"metricstor": {"x": {"median": 1.0, "bad": []}}, "prometheus": {"x": {"median": 4.0, "bad": []}}},
                     lower, "prometheus"), 0.25))


if __name__ == "__main__":
    unittest.main()
