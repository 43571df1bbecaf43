"""A scripted agent for suite runs: answers each prompt with the candidate file (of a folder) whose first Triton
kernel's name appears in the prompt's code, or with prose (no code) when none does.

    python agent.py CANDIDATES_DIR   (the prompt on standard input)"""
import os
import re
import sys

folder = sys.argv[1]
prompt = sys.stdin.read()
for name in sorted(os.listdir(folder)):
    source = open(os.path.join(folder, name)).read()
    kernel = re.search(r"@triton\.jit\s*\ndef (\w+)", source)
    if kernel and re.search(rf"\b{kernel.group(1)}\b", prompt):
        print("The same kernel again.\n\n```python\n" + source + "```")
        break
else:
    print("I have nothing for this one.")
