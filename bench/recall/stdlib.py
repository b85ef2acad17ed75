"""Build the labelled recall set from Python 3.11's standard library.

Each documented function or method becomes one memory and, for some of them,
one query: the first sentence of its docstring is the query, its signature and
the rest of its docstring the memory that answers it. Nobody on the team wrote
these texts, and the query shares only what a docstring's summary shares with
its details, so neither words nor embeddings have it easy.

    python3.11 bench/recall/stdlib.py > bench/recall/testdata/stdlib.json

The output is deterministic for a given Python 3.11 build: modules are a fixed
list, functions are visited in sorted order, and the sample is drawn with a
fixed seed. The set is committed; rerun this only to change it.
"""

import importlib
import inspect
import json
import random
import re
import sys
import warnings

# Pure-Python modules present in every CPython 3.11 build (no optional C
# library, no GUI, nothing that prints or starts anything when imported).
MODULES = """
abc argparse ast asyncio base64 bisect bz2 calendar cmd code codecs collections
colorsys configparser contextlib copy csv dataclasses datetime decimal difflib
dis email email.utils enum filecmp fileinput fnmatch fractions ftplib functools
getopt gettext glob gzip hashlib heapq hmac html html.parser http.client
http.cookies http.server imaplib importlib inspect io ipaddress itertools json
keyword linecache locale logging lzma mailbox mimetypes netrc numbers operator
optparse os os.path pathlib pickle pickletools pkgutil platform plistlib poplib
pprint profile pstats queue quopri random re reprlib sched secrets selectors
shelve shlex shutil signal smtplib socket socketserver statistics string
stringprep struct subprocess symtable sys sysconfig tabnanny tarfile tempfile
textwrap threading timeit token tokenize trace traceback types typing unittest
urllib.parse urllib.request uuid warnings weakref webbrowser wsgiref.util
xml.dom.minidom xml.etree.ElementTree zipfile zipimport zoneinfo
array bdb binascii cmath codeop compileall concurrent.futures contextvars
copyreg doctest email.contentmanager email.feedparser email.headerregistry
email.message email.policy gc graphlib http.cookiejar importlib.metadata
importlib.resources logging.config logging.handlers math mmap modulefinder
multiprocessing pdb py_compile pyclbr pydoc runpy select sqlite3 stat time
tomllib tracemalloc unicodedata unittest.mock urllib.robotparser xml.dom.pulldom
xml.sax.handler xml.sax.saxutils zipapp distutils.ccompiler distutils.cmd
distutils.dir_util distutils.dist distutils.file_util distutils.filelist
distutils.sysconfig distutils.text_file distutils.util lib2to3.fixer_util
lib2to3.pytree lib2to3.refactor xmlrpc.client xmlrpc.server ctypes
email.generator email.header email.iterators email.charset email._header_value_parser
aifc asynchat asyncore cgi chunk dbm dbm.dumb imp mailcap nntplib pipes smtpd
sunau telnetlib uu wave xdrlib wsgiref.handlers wsgiref.headers
wsgiref.simple_server wsgiref.validate xml.dom.expatbuilder lib2to3.pgen2.driver
lib2to3.pgen2.tokenize lib2to3.main distutils.command.build_ext
distutils.command.install distutils.command.sdist distutils.archive_util
distutils.spawn distutils.version
""".split()

MEMORIES = 1900
QUERIES = 300
SEED = 19

SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(`'\"])|\n\s*\n")
SIGNATURE_LINE = re.compile(r"^[\w.]+\(.*\)(\s*->\s*.*)?$")


def split_doc(doc):
    """The first sentence and the rest of a docstring, whitespace collapsed."""
    lines = doc.strip().splitlines()
    # Builtins carry their signature as the docstring's first line.
    while lines and SIGNATURE_LINE.match(lines[0].strip()):
        lines = lines[1:]
    text = "\n".join(lines).strip()
    m = SENTENCE_END.search(text)
    if not m:
        return " ".join(text.split()), ""
    first, rest = text[: m.start()], text[m.end():]
    return " ".join(first.split()), " ".join(rest.split())


ADDRESS = re.compile(r" at 0x[0-9a-f]+")


def signature(name, obj):
    try:
        sig = str(inspect.signature(obj))
    except (TypeError, ValueError):
        sig = "(...)"
    # Sentinel defaults print their address, which changes from run to run.
    return name + ADDRESS.sub("", sig)


def owned(mod, obj):
    """Whether obj is defined in mod or, for a package, one of its modules."""
    where = getattr(obj, "__module__", None) or ""
    return where == mod.__name__ or where.startswith(mod.__name__ + ".")


def candidates():
    seen = set()
    for modname in MODULES:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mod = importlib.import_module(modname)
        owners = [(modname, mod)]
        for name, cls in sorted(vars(mod).items()):
            if inspect.isclass(cls) and not name.startswith("_") and owned(mod, cls):
                owners.append((modname + "." + name, cls))
        for prefix, owner in owners:
            if owner is not mod and id(owner) not in seen:
                seen.add(id(owner))
                doc = inspect.getdoc(owner)
                if doc:
                    query, rest = split_doc(doc)
                    if len(query.split()) >= 4 and len(rest.split()) >= 4:
                        yield prefix, query, "class " + signature(prefix.rsplit(".", 1)[1], owner) + "\n" + rest
            for name, obj in sorted(vars(owner).items()):
                if name.startswith("_"):
                    continue
                if isinstance(obj, (staticmethod, classmethod)):
                    obj = obj.__func__
                if not (inspect.isfunction(obj) or inspect.isbuiltin(obj)):
                    continue
                if inspect.isfunction(obj) and not owned(mod, obj):
                    continue  # re-exported from another module
                doc = inspect.getdoc(obj)
                if not doc or id(obj) in seen:
                    continue
                seen.add(id(obj))
                query, rest = split_doc(doc)
                if len(query.split()) < 4 or len(rest.split()) < 4:
                    continue
                yield prefix + "." + name, query, signature(name, obj) + "\n" + rest


def main():
    if sys.version_info[:2] != (3, 11):
        sys.exit("stdlib.py needs Python 3.11: the docstrings are its own")
    found = list(candidates())
    # A summary shared by several functions would answer each of them: keep
    # the first (in sorted order), drop the others from the corpus.
    # Likewise a memory text shared by several functions (same signature and
    # details, e.g. a method and its override).
    kept, summaries, texts = [], set(), set()
    for f in found:
        if f[1].lower() not in summaries and f[2] not in texts:
            summaries.add(f[1].lower())
            texts.add(f[2])
            kept.append(f)
    found = kept
    rng = random.Random(SEED)
    picked = sorted(rng.sample(range(len(found)), MEMORIES))
    memories = [{"id": "m%04d" % i, "name": found[j][0], "text": found[j][2]} for i, j in enumerate(picked)]
    asked = sorted(rng.sample(range(MEMORIES), QUERIES))
    queries = [{"text": found[picked[i]][1], "relevant": [memories[i]["id"]]} for i in asked]
    json.dump({
        "description": "Recall set from Python %d.%d's standard library docstrings: a function's first sentence is the query, "
                       "its signature and the rest of its docstring the one relevant memory (bench/recall/stdlib.py)." % sys.version_info[:2],
        "python": sys.version.split()[0],
        "candidates": len(found),
        "memories": memories,
        "queries": queries,
    }, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
