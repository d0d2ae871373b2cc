#!/usr/bin/env python3
"""Excel workbooks end to end, read and written with openpyxl (python3-openpyxl).

Imports the bundled samples into a scratch registry and checks that `products --xlsx`,
`products --csv` and `GET /api/v1/export?format=xlsx|csv` hold the very products of
`products --json`, typed in the workbook (ids and counts int, flags bool, dates datetime), with a
frozen bold header and an autofilter, and that a value starting with = is text, not a formula.
Then fills the `template --xlsx` workbook and a messy one (Excel dates, trailing spaces, a
misspelt header, a duplicate row, a date as text, an error cell, a date and time) and checks that
each problem is reported once, naming sheet, row, field and product, and that nothing else is
lost or stored wrongly. Every command and request has a deadline.

Usage: xlsx_roundtrip_test.py --iotreg PATH --source DIR
"""

import argparse
import csv
import datetime
import http.client
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

import openpyxl

AS_OF = "2026-11-29"
CLI_DEADLINE = 120
REQUEST_DEADLINE = 30
SERVER_START_DEADLINE = 30
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
COLUMNS = ["id", "manufacturer", "brand", "model", "type", "status", "flagged", "label_id",
           "version_count", "updated_at", "flag_state", "flag_id", "remedied", "support_end",
           "failing_checks", "class", "last_declared"]

ARGUMENTS = None


class Registry:
    """A scratch registry of the samples and, once asked for, `iotreg serve` on it."""

    def __init__(self, iotreg, source, samples=True):
        self.iotreg = iotreg
        self.dir = tempfile.mkdtemp(prefix="iotreg-xlsx-")
        self.db = os.path.join(self.dir, "registry.db")
        self.server = None
        self.serve_log = None
        if samples:
            files = sorted(os.path.join(source, "samples", name)
                           for name in os.listdir(os.path.join(source, "samples"))
                           if name.startswith("0"))
            imported = self.cli(["import", "--quiet"] + files)
            if imported.returncode != 1:  # the samples hold records rejected on purpose
                raise AssertionError("importing the samples: %r" % imported.stderr)

    def path(self, name):
        return os.path.join(self.dir, name)

    def cli(self, arguments):
        return subprocess.run([self.iotreg, "--db", self.db, "--as-of", AS_OF] + arguments,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              timeout=CLI_DEADLINE, check=False, cwd=self.dir)

    def products(self):
        listed = self.cli(["products", "--json"])
        assert listed.returncode == 0, listed.stderr
        return [json.loads(line) for line in listed.stdout.splitlines()]

    def serve(self):
        created = self.cli(["token", "create", "--role", "officer", "--name", "Xlsx Tester"])
        assert created.returncode == 0, created.stderr
        self.officer = created.stdout.strip().splitlines()[-1]
        self.serve_log = open(self.path("serve.out"), "w+b")
        self.server = subprocess.Popen(
            [self.iotreg, "--db", self.db, "--as-of", AS_OF, "serve", "--listen", "127.0.0.1:0"],
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

    def request(self, method, target, body=None, content_type=None):
        """(status, headers, body) of one exchange on a new connection, within the deadline."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_DEADLINE)
        try:
            headers = {"Authorization": "Bearer " + self.officer}
            if content_type:
                headers["Content-Type"] = content_type
            connection.request(method, target, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()

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


def utc_timestamp(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")


def day(text):
    return datetime.datetime.strptime(text, "%Y-%m-%d")


def expected_typed_row(product):
    """A product of `products --json` as the workbook's typed cells (None for an empty cell)."""
    return [
        product["id"], product["manufacturer"], product["brand"], product["model"],
        product["type"], product["status"], product["flagged"], product["label_id"],
        product["version_count"], utc_timestamp(product["updated_at"]), product["flag_state"],
        product["flag_id"], product["remedied"],
        day(product["support_end"]) if product["support_end"] else None,
        " ".join(product["failing_checks"]) or None, product["class"],
        day(product["updated_at"][:10]),
    ]


def expected_text_row(product):
    """The same product as CSV cells."""
    def text(value):
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)
    return [text(product["id"]), product["manufacturer"], product["brand"], product["model"],
            text(product["type"]), product["status"], text(product["flagged"]),
            text(product["label_id"]), text(product["version_count"]), product["updated_at"],
            text(product["flag_state"]), text(product["flag_id"]), text(product["remedied"]),
            text(product["support_end"]), " ".join(product["failing_checks"]),
            product["class"], product["updated_at"][:10]]


class ExportTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.registry = Registry(ARGUMENTS.iotreg, ARGUMENTS.source)
        cls.products = cls.registry.products()
        cls.registry.serve()

    @classmethod
    def tearDownClass(cls):
        cls.registry.close()

    def check_workbook(self, data):
        workbook = openpyxl.load_workbook(io.BytesIO(data))
        sheet = workbook.worksheets[0]
        self.assertEqual(sheet.title, "Products")
        rows = list(sheet.iter_rows(values_only=True))
        self.assertEqual(list(rows[0]), COLUMNS)
        self.assertTrue(all(cell.font.b for cell in sheet[1]), "the header row is bold")
        self.assertEqual(sheet.freeze_panes, "A2")
        self.assertEqual(sheet.auto_filter.ref, "A1:Q%d" % (len(self.products) + 1))
        self.assertEqual(len(rows), len(self.products) + 1)
        self.assertGreater(len(self.products), 50)
        for product, row in zip(self.products, rows[1:]):
            expected = expected_typed_row(product)
            self.assertEqual(list(row), expected)
            for value, wanted in zip(row, expected):
                self.assertIs(type(value), type(wanted), "%r for %r" % (value, wanted))
        date_cell = sheet.cell(row=2, column=COLUMNS.index("support_end") + 1)
        self.assertTrue(date_cell.is_date)
        self.assertEqual(date_cell.number_format, "yyyy-mm-dd")
        self.assertGreater(sheet.column_dimensions["B"].width, 20)

    def check_csv(self, text):
        rows = list(csv.reader(io.StringIO(text)))
        self.assertEqual(rows[0], COLUMNS)
        self.assertEqual(rows[1:], [expected_text_row(product) for product in self.products])

    def test_cli_exports(self):
        written = self.registry.cli(["products", "--xlsx", "products.xlsx"])
        self.assertEqual(written.returncode, 0, written.stderr)
        with open(self.registry.path("products.xlsx"), "rb") as exported:
            self.check_workbook(exported.read())
        listed = self.registry.cli(["products", "--csv"])
        self.assertEqual(listed.returncode, 0, listed.stderr)
        self.check_csv(listed.stdout)

    def test_api_exports(self):
        status, headers, body = self.registry.request("GET", "/api/v1/export?format=xlsx")
        self.assertEqual(status, 200, body[:300])
        self.assertEqual(headers["Content-Type"], XLSX_MEDIA_TYPE)
        self.assertEqual(headers["Content-Disposition"],
                         'attachment; filename="iotreg-products.xlsx"')
        self.check_workbook(body)
        status, _, body = self.registry.request("GET", "/api/v1/export?format=csv")
        self.assertEqual(status, 200)
        self.check_csv(body.decode("utf-8"))
        status, _, body = self.registry.request("GET", "/api/v1/export?format=xlsx&bom=true")
        self.assertEqual(status, 400)
        self.assertIn("bom applies to format=csv only", json.loads(body)["error"]["message"])


class ImportTest(unittest.TestCase):
    def setUp(self):
        self.registry = Registry(ARGUMENTS.iotreg, ARGUMENTS.source, samples=False)

    def tearDown(self):
        self.registry.close()

    def by_model(self):
        return {product["model"]: product for product in self.registry.products()}

    def test_formula_text_stays_text(self):
        workbook = openpyxl.Workbook()
        sheet = workbook.active
        sheet.append(["manufacturer.name", "product.brand", "product.model"])
        sheet.append(["Acme Ltd", "Acme", "'=HYPERLINK(\"http://x\")"])
        sheet.cell(row=2, column=3).data_type = "s"
        sheet.cell(row=2, column=3).value = '=HYPERLINK("http://x")'
        sheet.cell(row=2, column=3).data_type = "s"
        workbook.save(self.registry.path("formula.xlsx"))
        imported = self.registry.cli(["import", "formula.xlsx"])
        self.assertEqual(imported.returncode, 0, imported.stderr)
        self.assertIn('=HYPERLINK("http://x")', self.by_model())
        self.assertEqual(self.registry.cli(["products", "--xlsx", "out.xlsx"]).returncode, 0)
        exported = openpyxl.load_workbook(self.registry.path("out.xlsx")).worksheets[0]
        cell = exported.cell(row=2, column=COLUMNS.index("model") + 1)
        self.assertEqual(cell.value, '=HYPERLINK("http://x")')
        self.assertEqual(cell.data_type, "s")

    def test_template_round_trip(self):
        written = self.registry.cli(["template", "--xlsx", "template.xlsx"])
        self.assertEqual(written.returncode, 0, written.stderr)
        workbook = openpyxl.load_workbook(self.registry.path("template.xlsx"))
        sheet = workbook.worksheets[0]
        header = [cell.value for cell in sheet[1]]
        with open(os.path.join(ARGUMENTS.source, "schemas", "declaration.schema.json")) as schema:
            properties = json.load(schema)["properties"]
        paths = sorted("%s.%s" % (group, name) for group, node in properties.items()
                       for name in node["properties"])
        self.assertEqual(sorted(header), paths)
        notes = [cell.value for cell in sheet[2]]
        self.assertTrue(all(note.startswith("Note: ") for note in notes))
        self.assertIn("Last day of the security-update support period.",
                      notes[header.index("support.end_date")])
        self.assertEqual(sheet.freeze_panes, "A3")
        validations = {str(rule.sqref): rule for rule in sheet.data_validations.dataValidation}
        category = header.index("product.category")
        letter = openpyxl.utils.get_column_letter(category + 1)
        rule = validations["%s3:%s1002" % (letter, letter)]
        self.assertEqual(rule.type, "list")
        self.assertIn("ev_chargepoint", rule.formula1)
        end = openpyxl.utils.get_column_letter(header.index("support.end_date") + 1)
        self.assertEqual(validations["%s3:%s1002" % (end, end)].type, "date")
        values = {"manufacturer.name": "Template Ltd", "product.brand": "Tmpl",
                  "product.model": "T-1", "product.category": "smart_meter",
                  "product.cellular": "true", "support.end_date": datetime.date(2031, 3, 31),
                  "vulnerability.acknowledge_days": 5, "product.gtin": "5060412873017"}
        for path, value in values.items():
            sheet.cell(row=3, column=header.index(path) + 1, value=value)
        workbook.save(self.registry.path("filled.xlsx"))
        imported = self.registry.cli(["import", "filled.xlsx", "--json"])
        self.assertEqual(imported.returncode, 0, imported.stderr)
        self.assertEqual(json.loads(imported.stdout)["counts"]["records"], 1)
        shown = self.registry.cli(["show", "1", "--json"])
        declaration = json.loads(shown.stdout)["declaration"]
        self.assertEqual(declaration["support"]["end_date"], "2031-03-31")
        self.assertEqual(declaration["product"]["category"], "smart_meter")
        self.assertIs(declaration["product"]["cellular"], True)
        self.assertEqual(declaration["product"]["gtin"], "5060412873017")
        self.assertEqual(declaration["vulnerability"]["acknowledge_days"], 5)

    def test_misspelt_header_refuses_the_file_once(self):
        workbook = openpyxl.Workbook()
        sheet = workbook.active
        sheet.title = "Declarations"
        sheet.append(["manufacturer.name", "product.brand", "product.model", "suport.end_date"])
        sheet.append(["Acme Ltd", "Acme", "A-1", datetime.date(2031, 3, 31)])
        workbook.save(self.registry.path("misspelt.xlsx"))
        imported = self.registry.cli(["import", "misspelt.xlsx"])
        self.assertEqual(imported.returncode, 1)
        self.assertEqual(imported.stderr.splitlines(), [
            "misspelt.xlsx: Declarations!1, column D: unknown column 'suport.end_date'; did you "
            "mean support.end_date?; the file was not imported"])
        self.assertEqual(self.registry.products(), [])

    def test_messy_workbook(self):
        workbook = openpyxl.Workbook()
        sheet = workbook.active
        sheet.title = "Q3 submissions"
        sheet.append(["manufacturer.name", "product.brand", "product.model", "support.end_date",
                      "product.gtin", "product.cellular", "product.type"])
        rows = [
            ["Acme Ltd  ", "Acme", "A-1 ", datetime.date(2031, 3, 31), 5060412873017, True,
             "camera"],                                                        # row 2: good
            ["Acme Ltd", "Acme", "A-2", "31/03/2030", None, None, None],       # 3: date as text
            [],                                                                # 4: blank
            ["Acme Ltd", "Acme", "A-1", datetime.date(2031, 3, 31), 5060412873017, True,
             "camera"],                                                        # 5: duplicate
            ["Acme Ltd", "Acme", "A-3", datetime.datetime(2030, 6, 30, 12, 0), None, None,
             None],                                                            # 6: time of day
            ["Acme Ltd", "Acme", "A-4", 47573, None, "ja", None],              # 7: bad boolean
            ["Acme Ltd", "Acme", "A-5", None, "#N/A", None, datetime.date(2026, 3, 1)],  # 8
            ["Beta GmbH", "Beta", "B-1", None, 5060412873018, None, "  hub  "],  # 9: check digit
        ]
        for row in rows:
            sheet.append(row)
        sheet["E8"].data_type = "e"
        workbook.save(self.registry.path("messy.xlsx"))
        imported = self.registry.cli(["import", "messy.xlsx", "--json"])
        self.assertEqual(imported.returncode, 1, imported.stderr)
        where = "messy.xlsx:'Q3 submissions'!"
        expected = [
            where + "3: support.end_date: ",
            where + "6: support.end_date: is a date and time (2030-06-30 12:00), not a day; "
                    "format the cell as a date without a time (Acme Ltd / Acme A-3)",
            where + "7: product.cellular: ",
            where + "8: product.gtin: holds the spreadsheet error #N/A, not a value "
                    "(Acme Ltd / Acme A-5)",
            where + "8: product.type: is a date cell (2026-03-01) but product.type is not a date",
            where + "9: product.gtin: ",
        ]
        lines = imported.stderr.splitlines()
        # The duplicate of row 2 stores nothing new (it is counted unchanged below); a warning
        # about it, when the import gives one, names it once.
        duplicates = [line for line in lines if ": warning: " in line]
        self.assertLessEqual(len(duplicates), 1, imported.stderr)
        for line in duplicates:
            self.assertTrue(line.startswith(where + "5: "), line)
        lines = [line for line in lines if line not in duplicates]
        self.assertEqual(len(lines), len(expected), imported.stderr)
        for line, start in zip(lines, expected):
            self.assertTrue(line.startswith(start), "%r should start %r" % (line, start))
        # Each names its product, once.
        for line, product in zip(lines, ["Acme A-2", "Acme A-3", "Acme A-4", "Acme A-5",
                                         "Acme A-5", "Beta B-1"]):
            self.assertEqual(line.count("(Acme Ltd / " + product + ")")
                             + line.count("(Beta GmbH / " + product + ")"), 1, line)
        self.assertIn("31/03/2030", lines[0])
        self.assertIn("'ja'", lines[2])
        self.assertIn("check digit", lines[5])
        summary = json.loads(imported.stdout)
        self.assertEqual(summary["counts"], {"records": 7, "accepted": 2, "rejected": 5,
                                             "new_products": 1, "new_versions": 0,
                                             "unchanged": 1})
        products = self.by_model()
        self.assertEqual(sorted(products), ["A-1"])
        self.assertEqual(products["A-1"]["manufacturer"], "Acme Ltd")
        self.assertEqual(products["A-1"]["support_end"], "2031-03-31")
        shown = json.loads(self.registry.cli(["show", str(products["A-1"]["id"]),
                                              "--json"]).stdout)
        self.assertEqual(shown["declaration"]["product"]["gtin"], "5060412873017")
        self.assertIs(shown["declaration"]["product"]["cellular"], True)
        self.assertEqual(len(shown["versions"]), 1)


def main():
    global ARGUMENTS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iotreg", required=True)
    parser.add_argument("--source", required=True)
    ARGUMENTS, rest = parser.parse_known_args()
    ARGUMENTS.iotreg = os.path.abspath(ARGUMENTS.iotreg)
    ARGUMENTS.source = os.path.abspath(ARGUMENTS.source)
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
