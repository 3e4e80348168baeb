"""Unit tests of the origin-verify authorizer (run by scripts/check-infra)."""

import importlib
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def load(secrets):
    os.environ["ORIGIN_VERIFY_SECRETS"] = secrets
    os.environ["ORIGIN_VERIFY_HEADER"] = "X-Origin-Verify"
    import handler

    return importlib.reload(handler)


def event(headers):
    return {"version": "2.0", "type": "REQUEST", "headers": headers}


class OriginVerify(unittest.TestCase):
    def test_the_current_value_is_admitted(self):
        h = load("alpha1")
        self.assertEqual(h.handler(event({"x-origin-verify": "alpha1"}), None), {"isAuthorized": True})

    def test_both_values_are_admitted_during_a_rotation(self):
        h = load("alpha1, bravo2")
        for value in ("alpha1", "bravo2"):
            self.assertTrue(h.handler(event({"x-origin-verify": value}), None)["isAuthorized"], value)

    def test_direct_calls_are_refused(self):
        h = load("alpha1,bravo2")
        for headers in (
            {},
            None,
            {"x-origin-verify": ""},
            {"x-origin-verify": "alpha"},
            {"x-origin-verify": "alpha1x"},
            {"x-origin-verify": "alpha1,bravo2"},
            {"authorization": "alpha1"},
        ):
            self.assertEqual(h.handler(event(headers), None), {"isAuthorized": False}, headers)
        self.assertEqual(h.handler({}, None), {"isAuthorized": False})

    def test_nothing_configured_admits_nothing(self):
        for secrets in ("", " , ,"):
            h = load(secrets)
            self.assertEqual(h.ACCEPTED, [])
            self.assertFalse(h.handler(event({"x-origin-verify": ""}), None)["isAuthorized"])
            self.assertFalse(h.handler(event({"x-origin-verify": ","}), None)["isAuthorized"])


if __name__ == "__main__":
    unittest.main()
