#!/usr/bin/env python3
"""Replaces the text between <!-- NAME:begin --> and <!-- NAME:end --> in bench/README.md.
Usage: write_results.py NAME RESULT_TEXT"""
import re
import sys
from pathlib import Path

name, result = sys.argv[1], sys.argv[2]
readme = Path(__file__).resolve().parent / "README.md"
text = readme.read_text()
start, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
if start not in text or end not in text:
    sys.exit(f"{readme}: markers {start} and {end} not found")
text = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _: f"{start}\n{result}\n{end}",
              text, flags=re.S)
readme.write_text(text)
