#!/usr/bin/env python3
"""Arbitrary text in every text parameter of the command line and the HTTP API.

Builds a registry of the bundled samples, serves it with `iotreg serve` on a free loopback port,
and feeds hand-picked and generated Unicode (every category, lone surrogates and invalid UTF-8
where the transport carries them) to every query parameter of every GET endpoint of
schemas/openapi.yaml, to the {id} of every path that has one, as raw bytes in a request target,
and to the text options of the command line. Properties: never a 5xx, a crash or a timeout; every non-2xx reply is the JSON error
envelope with a message; every 2xx list or export is well formed; the command line exits 0, 1 or 2
with a usage message for 2, and searches as the API does; and a word imported in a product's model
finds that product.

Usage: text_parameters_test.py --iotreg PATH --source DIR
"""

import argparse
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

import hypothesis.configuration
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

AS_OF = "2026-11-29"
REQUEST_DEADLINE = 10.0  # seconds for one HTTP exchange, connection to last byte
CLI_DEADLINE = 30.0  # seconds for one command
SERVER_START_DEADLINE = 60.0
MAX_SEARCH_WORDS = 16

# Ordinary words that once answered 500 (the tokenizer split them into a phrase), and words of
# other scripts: RTL marks, combining characters, emoji, CJK, full-width and special case folds.
WORDS = [
    "O\u2019Neill",
    "Wi\u2011Fi",
    "10\u00d7zoom",
    "a\u00b0b",
    "TP\u00aeLink",
    "O'Neill",
    "caf\u00e9",
    "cafe\u0301",
    "\u200f\u0645\u0631\u062d\u0628\u0627\u200e",
    "\u202eevil\u202c",
    "\U0001f4f7",
    "\U0001f468\u200d\U0001f469\u200d\U0001f467",
    "\u6444\u50cf\u5934",
    "\uff2c\uff36",
    "\u00df",
    "\u0130stanbul",
    "\u2126",
    "\u2160",
]
# Text without words, and query syntax that must stay plain text.
NO_WORDS_AND_SYNTAX = [
    "", " ", "\t\n", "!!!", "\u2014", "\u00ae", "\u0301", '"', '""*', "*", "AND", "cam OR router",
    "NEAR(a b)", "brand:Kestrel", "-router", "^cam", "' OR 1=1 --", "%", "+",
]
# What is not text: NUL and other controls, lone surrogates, invalid UTF-8.
NOT_TEXT = [
    "\x00", "a\x00b", "\x01\x7f", "\ud800", "\udfff", "a\udc80b",
    b"\xff", b"\xc3", b"\xc0\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"a\x80b",
]
# Lengths and word counts around the limits.
LONG = [
    "a" * 1000,
    "a" * 1001,
    "\u20ac" * 400,
    "x" * 20000,
    " ".join("w%d" % i for i in range(MAX_SEARCH_WORDS)),
    " ".join("w%d" % i for i in range(MAX_SEARCH_WORDS + 1)),
    "-".join("w%d" % i for i in range(MAX_SEARCH_WORDS + 1)),
    "same " * 100,
]
HAND_PICKED = WORDS + NO_WORDS_AND_SYNTAX + NOT_TEXT + LONG

# Every Unicode category, surrogates (Cs) included: HTTP carries them percent-encoded as the bytes
# Python's surrogatepass codec gives, the command line as argument bytes.
ANY_CHARACTER = st.characters(blacklist_categories=())
ANY_TEXT = st.one_of(st.text(ANY_CHARACTER, max_size=40), st.binary(max_size=24))


def as_bytes(value):
    return value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")


def option_value(option, value):
    """The arguments that give `option` the value: `--option=value`, so that a value starting with
    `-` is not read as an option, or `--option ""` for the empty value."""
    value = as_bytes(value)
    return [option.encode() + b"=" + value] if value else [option.encode(), b""]


def percent(value):
    return urllib.parse.quote(as_bytes(value), safe="")


class Answer:
    def __init__(self, status, content_type, body):
        self.status = status
        self.content_type = content_type
        self.body = body

    def json(self):
        return json.loads(self.body.decode("utf-8"))


class Registry:
    """The samples imported into a scratch registry, three tokens, and `iotreg serve` on it."""

    def __init__(self, iotreg, source):
        self.iotreg = iotreg
        self.source = source
        self.dir = tempfile.mkdtemp(prefix="iotreg-property-")
        self.db = os.path.join(self.dir, "registry.db")
        self.server = None
        samples = sorted(
            os.path.join(source, "samples", name)
            for name in os.listdir(os.path.join(source, "samples"))
            if name.startswith("0")
        )
        imported = self.cli(["import", "--quiet"] + samples)
        if imported.returncode != 1:  # the samples hold records rejected on purpose
            raise AssertionError("importing the samples: %r" % imported.stderr)
        self.officer = self.token(["--role", "officer"])
        self.admin = self.token(["--role", "admin"])
        self.serve_log = open(os.path.join(self.dir, "serve.out"), "w+b")
        self.server = subprocess.Popen(
            [iotreg, "--db", self.db, "--as-of", AS_OF, "serve", "--listen", "127.0.0.1:0"],
            stdout=self.serve_log, stderr=subprocess.STDOUT)
        started = time.monotonic()
        self.port = None
        while self.port is None:
            self.serve_log.seek(0)
            found = re.search(rb"serving http://127\.0\.0\.1:(\d+)", self.serve_log.read())
            if found:
                self.port = int(found.group(1))
            elif (self.server.poll() is not None
                  or time.monotonic() - started > SERVER_START_DEADLINE):
                raise AssertionError("iotreg serve did not start")
            else:
                time.sleep(0.02)

    def close(self):
        if self.server is not None:
            self.server.terminate()
            try:
                self.server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait()
            self.serve_log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def cli(self, arguments):
        return subprocess.run(
            [as_bytes(self.iotreg), b"--db", as_bytes(self.db), b"--as-of", AS_OF.encode()]
            + [as_bytes(argument) for argument in arguments],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=CLI_DEADLINE, check=False)

    def token(self, arguments):
        created = self.cli(["token", "create", "--name", "Property Tester"] + arguments)
        if created.returncode != 0:
            raise AssertionError("token create: %r" % created.stderr)
        return created.stdout.decode().strip().splitlines()[-1]

    def request(self, method, target, token=None, body=None, content_type=None):
        """One exchange on a new connection; a reply later than REQUEST_DEADLINE is a failure."""
        started = time.monotonic()
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_DEADLINE)
        try:
            headers = {}
            if token:
                headers["Authorization"] = "Bearer " + token
            if content_type:
                headers["Content-Type"] = content_type
            connection.request(method, target, body=body, headers=headers)
            response = connection.getresponse()
            answer = Answer(response.status, response.getheader("Content-Type", ""),
                            response.read())
        finally:
            connection.close()
        elapsed = time.monotonic() - started
        if elapsed > REQUEST_DEADLINE:
            raise AssertionError("%s %s took %.1f s" % (method, target[:200], elapsed))
        return answer

    def get(self, target, token=None):
        return self.request("GET", target, token)

    def raw_get(self, target, token):
        """GET with the request target's bytes sent as they are, not percent-encoded; the status
        and body of the reply, which must be complete within REQUEST_DEADLINE."""
        deadline = time.monotonic() + REQUEST_DEADLINE
        with socket.create_connection(("127.0.0.1", self.port), timeout=REQUEST_DEADLINE) as peer:
            peer.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         b"Authorization: Bearer " + token.encode() + b"\r\n"
                         b"Connection: close\r\n\r\n")
            reply = b""
            while True:
                peer.settimeout(max(deadline - time.monotonic(), 0.001))
                received = peer.recv(65536)
                if not received:
                    break
                reply += received
        head, _, body = reply.partition(b"\r\n\r\n")
        status_line = head.split(b"\r\n")[0].split(b" ")
        content_type = re.search(rb"(?im)^content-type: *([^\r]*)", head)
        return Answer(int(status_line[1]), content_type.group(1).decode() if content_type else "",
                      body)


REGISTRY = None


def setUpModule():  # noqa: N802 (unittest's name)
    global REGISTRY
    REGISTRY = Registry(ARGUMENTS.iotreg, ARGUMENTS.source)
    # Hypothesis's caches go with the registry, not into the working directory.
    hypothesis.configuration.set_hypothesis_home_dir(os.path.join(REGISTRY.dir, "hypothesis"))


def tearDownModule():  # noqa: N802
    if REGISTRY is not None:
        ended = REGISTRY.server.poll()
        REGISTRY.close()
        if ended is not None:
            raise AssertionError("iotreg serve ended during the tests (status %d)" % ended)


def get_endpoints(source):
    """(path, [query parameter names], has an {id}) of every GET operation of the OpenAPI file."""
    with open(os.path.join(source, "schemas", "openapi.yaml"), encoding="utf-8") as spec_file:
        spec = yaml.safe_load(spec_file)
    shared = spec.get("components", {}).get("parameters", {})
    endpoints = []
    for path, operations in spec["paths"].items():
        if "get" not in operations:
            continue
        names = []
        for parameter in operations["get"].get("parameters", []) + operations.get("parameters", []):
            if "$ref" in parameter:
                parameter = shared[parameter["$ref"].rsplit("/", 1)[-1]]
            if parameter["in"] == "query":
                names.append(parameter["name"])
        endpoints.append((path, names, "{id}" in path))
    return endpoints


class Checks:
    """Assertions shared by the hand-picked and the generated cases."""

    @staticmethod
    def token_for(path):
        return REGISTRY.admin if path == "/api/v1/tokens" else REGISTRY.officer

    @staticmethod
    def reply(case, answer, what):
        case.assertLess(answer.status, 500, "%s answered %d: %r" % (what, answer.status,
                                                                     answer.body[:300]))
        if answer.status >= 300:
            if answer.content_type.startswith("text/html"):
                # The consumer's lookup redirects to the page it found, or says in a page what
                # is wrong (400) or that nothing is registered (404).
                if what.startswith("/public/lookup"):
                    case.assertIn(answer.status, (302, 400, 404), what)
                    return
                # The consumer's page of a product that does not exist is a page, not JSON.
                case.assertEqual(answer.status, 404, what)
                case.assertTrue(what.startswith("/public/products/"), what)
                return
            envelope = answer.json()
            case.assertEqual(envelope["error"]["status"], answer.status, what)
            case.assertIsInstance(envelope["error"]["code"], str, what)
            case.assertTrue(envelope["error"]["message"].strip(), what)
            return
        if answer.content_type.startswith("application/json"):
            body = answer.json()
            if "items" in body:
                case.assertIsInstance(body["items"], list, what)
                case.assertTrue(body["next_cursor"] is None or isinstance(body["next_cursor"], str),
                                what)
                for item in body["items"]:
                    case.assertIsInstance(item["id"], int, what)
        elif answer.content_type.startswith("application/x-ndjson"):
            for line in answer.body.decode("utf-8").splitlines():
                case.assertIsInstance(json.loads(line)["id"], int, what)
        elif answer.content_type.startswith("text/csv"):
            case.assertTrue(answer.body.startswith(b"id,manufacturer,brand,model,"), what)

    @staticmethod
    def query_parameter(case, path, name, value):
        target = "%s?%s=%s" % (path, name, percent(value))
        Checks.reply(case, REGISTRY.get(target, Checks.token_for(path)), target[:300])

    @staticmethod
    def path_id(case, path, value):
        target = path.replace("{id}", percent(value) or "%20")
        Checks.reply(case, REGISTRY.get(target, REGISTRY.officer), target[:300])

    @staticmethod
    def api_search(case, value):
        """The ids a search finds over the API (every page), or None when it is refused."""
        ids = []
        target = "/api/v1/products?limit=500&q=" + percent(value)
        while True:
            answer = REGISTRY.get(target, REGISTRY.officer)
            Checks.reply(case, answer, target[:300])
            if answer.status != 200:
                case.assertEqual(answer.status, 400, target[:300])
                return None
            body = answer.json()
            ids += [item["id"] for item in body["items"]]
            if body["next_cursor"] is None:
                return ids
            target = "/api/v1/products?limit=500&q=%s&cursor=%s" % (percent(value),
                                                                    body["next_cursor"])

    @staticmethod
    def command(case, arguments):
        """Runs the command line; returns its result after checking how it ended."""
        ran = REGISTRY.cli(arguments)
        what = repr(arguments)[:300]
        case.assertIn(ran.returncode, (0, 1, 2), what + ": " + repr(ran.stderr[:300]))
        if ran.returncode == 2:
            message = ran.stderr.decode("utf-8", "replace")
            case.assertTrue(message.startswith("iotreg: "), what + ": " + message[:300])
            # A usage message, not a failure of the storage.
            case.assertNotIn("database query failed", message, what)
            case.assertNotIn(REGISTRY.db, message, what)
        return ran

    @staticmethod
    def cli_search(case, value):
        """The ids `products --search` finds, or None when it is refused (exit 2)."""
        ran = Checks.command(case, ["products", "--json"] + option_value("--search", value))
        case.assertIn(ran.returncode, (0, 2), repr(value)[:300])
        if ran.returncode == 2:
            return None
        return [json.loads(line)["id"] for line in ran.stdout.decode("utf-8").splitlines()]

    @staticmethod
    def cli_option(case, option, value):
        """One text option of the command line, with whatever else it needs to run."""
        raw = as_bytes(value).replace(b"\x00", b"")  # an argument cannot hold NUL
        if option == "show":
            Checks.command(case, ["show", "--json", "--", raw])
        elif option == "flag":
            Checks.command(case, ["flag", "dismiss", "--reason=x", "--", raw])
        elif option == "--reason":
            Checks.command(case, ["flag", "dismiss", "999999"] + option_value("--reason", raw))
        elif option == "token --manufacturer":
            Checks.command(case, ["token", "create", "--role", "manufacturer", "--name", "P"]
                           + option_value("--manufacturer", raw))
        elif option == "--state":
            Checks.command(case, ["flags", "--json"] + option_value("--state", raw))
        else:
            Checks.command(case, ["products", "--json"] + option_value(option, raw))


CLI_OPTIONS = ["--search", "--manufacturer", "--status", "--type", "--state", "show", "flag",
               "--reason", "token --manufacturer"]


class ApiTextParameters(unittest.TestCase):
    def test_hand_picked_text_in_every_query_parameter(self):
        for path, names, has_id in ENDPOINTS:
            for value in HAND_PICKED:
                with self.subTest(path=path, value=value):
                    if has_id:
                        Checks.path_id(self, path, value)
                    for name in names:
                        Checks.query_parameter(self, path, name, value)

    @settings(max_examples=500, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    # ENDPOINTS is read from the OpenAPI file once the arguments are known, after this is defined.
    @given(endpoint=st.deferred(lambda: st.sampled_from(ENDPOINTS)), value=ANY_TEXT,
           data=st.data())
    def test_generated_text_in_every_query_parameter(self, endpoint, value, data):
        path, names, has_id = endpoint
        if has_id:
            Checks.path_id(self, path, value)
        if names:
            Checks.query_parameter(self, path, data.draw(st.sampled_from(names)), value)

    @settings(max_examples=150, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(value=st.binary(max_size=40).map(lambda raw: raw.translate(None, b"\r\n")))
    def test_raw_bytes_in_the_request_target(self, value):
        # Clients percent-encode; a request line carries any other byte but CR and LF as it is.
        target = b"/api/v1/products?q=" + value
        Checks.reply(self, REGISTRY.raw_get(target, REGISTRY.officer), repr(target))

    def test_the_five_words_that_answered_500_are_searched(self):
        # Each is two words for the index; "O’Neill" finds what "O'Neill" finds.
        for word in ["O\u2019Neill", "Wi\u2011Fi", "10\u00d7zoom", "a\u00b0b", "TP\u00aeLink"]:
            for path in ["/api/v1/products", "/api/v1/export"]:
                answer = REGISTRY.get(path + "?q=" + percent(word), REGISTRY.officer)
                self.assertEqual(answer.status, 200, (path, word, answer.body[:300]))
        self.assertEqual(Checks.api_search(self, "O\u2019Neill"),
                         Checks.api_search(self, "O'Neill"))


class CliTextParameters(unittest.TestCase):
    def test_hand_picked_text_in_every_text_option(self):
        # Every hand-picked value is searched below; a sample of them goes to every option.
        for value in WORDS[:5] + NO_WORDS_AND_SYNTAX[:4] + NOT_TEXT + LONG:
            for option in CLI_OPTIONS:
                with self.subTest(option=option, value=value):
                    Checks.cli_option(self, option, value)

    @settings(max_examples=80, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(option=st.sampled_from(CLI_OPTIONS), value=ANY_TEXT)
    def test_generated_text_in_every_text_option(self, option, value):
        Checks.cli_option(self, option, value)

    def test_hand_picked_searches_agree_with_the_api(self):
        for value in HAND_PICKED:
            if b"\x00" in as_bytes(value) or len(as_bytes(value)) > 1000:
                continue  # an argument cannot hold NUL; the API's 1000-character limit
            with self.subTest(value=value):
                self.assertEqual(Checks.cli_search(self, value), Checks.api_search(self, value))

    @settings(max_examples=60, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(value=ANY_TEXT.filter(lambda value: b"\x00" not in as_bytes(value)))
    def test_generated_searches_agree_with_the_api(self, value):
        self.assertEqual(Checks.cli_search(self, value), Checks.api_search(self, value))


class ImportedWordsAreFound(unittest.TestCase):
    MANUFACTURER = "Property Words Ltd"
    imported = 0

    # Text the declaration format accepts (no surrogates, no control characters), short enough
    # that it cannot hold more than MAX_SEARCH_WORDS words.
    WORD = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=24)

    @settings(max_examples=40, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(word=WORD)
    def test_a_word_in_a_model_finds_the_product(self, word):
        self.check_found(word)

    def test_hand_picked_words_in_a_model_find_the_product(self):
        for word in ["O\u2019Neill", "Wi\u2011Fi", "10\u00d7zoom", "a\u00b0b", "TP\u00aeLink",
                     "cafe\u0301", "\u6444\u50cf\u5934", "\U0001f4f7", "\u0130stanbul"]:
            with self.subTest(word=word):
                self.check_found(word)

    def check_found(self, word):
        ImportedWordsAreFound.imported += 1
        model = "PW%d %s ." % (ImportedWordsAreFound.imported, word)
        declaration = {"manufacturer": {"name": self.MANUFACTURER},
                       "product": {"brand": "Probe", "model": model}}
        answer = REGISTRY.request("POST", "/api/v1/declarations", REGISTRY.admin,
                                  json.dumps(declaration).encode(), "application/x-ndjson")
        self.assertEqual(answer.status, 200, answer.body[:500])
        self.assertEqual(answer.json()["counts"]["accepted"], 1)
        # The product is the one of this manufacturer whose model is exactly this.
        target = "/api/v1/products?limit=500&manufacturer=" + percent(self.MANUFACTURER)
        listed = REGISTRY.get(target, REGISTRY.officer).json()["items"]
        product = [item["id"] for item in listed if item["model"] == model.strip()]
        self.assertEqual(len(product), 1, model)
        found = Checks.api_search(self, word)
        self.assertIsNotNone(found, "the search for %r was refused" % word)
        self.assertIn(product[0], found, "searching %r over the API" % word)
        self.assertIn(product[0], Checks.cli_search(self, word), "searching %r with the CLI" % word)


def main():
    global ARGUMENTS, ENDPOINTS
    parser = argparse.ArgumentParser()
    parser.add_argument("--iotreg", required=True)
    parser.add_argument("--source", required=True)
    ARGUMENTS, rest = parser.parse_known_args()
    ENDPOINTS = get_endpoints(ARGUMENTS.source)
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


ARGUMENTS = None
ENDPOINTS = []

if __name__ == "__main__":
    main()
