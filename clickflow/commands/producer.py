"""The producer: `replay`, `generate`, `put`, `tail`."""

from __future__ import annotations

import json
import signal
from datetime import UTC, datetime
from pathlib import Path

from clickflow.commands.common import (
    EXIT_REJECTED,
    CliError,
    count,
    graceful_interrupt,
    load,
    parse_time,
    positive_number,
    say,
)


def continuation(argv: list[str], summary, limit: int | None) -> str:
    """The exact command that continues a stopped replay: the original arguments, every option
    kept, with its resume point (and what is left of --limit) in place of the old one."""
    import shlex

    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg in ("--resume-from", "--limit"):
            skip = True
            continue
        if arg == "--resume" or arg.startswith(("--resume-from=", "--limit=")):
            continue
        kept.append(arg)
    if summary.done_beyond:  # acknowledged rows after the resume line: only the progress file knows them
        kept.append("--resume")
        if limit is not None:
            kept += ["--limit", str(limit)]
    else:
        kept += ["--resume-from", str(summary.resume_line)]
        if limit is not None:
            kept += ["--limit", str(max(1, limit - summary.acknowledged_total))]
    return "clickflow " + shlex.join(kept)


def cmd_replay(args) -> int:
    """``clickflow replay SOURCE``: a clickstream file into the events stream, resumable however it stops."""
    from producer.replay import ReplayOptions, replay

    config = load(args)
    options = ReplayOptions(
        source=args.source,
        stream=args.stream or config.stream("events").name,
        partition_key=args.partition_key,
        rate=args.rate,
        speedup=args.speedup,
        limit=args.limit,
        resume_from=args.resume_from,
        resume=args.resume,
        retime=args.retime,
        rejects_path=Path(args.rejects) if args.rejects else None,
        client=args.client,
        progress=not args.quiet,
    )
    with graceful_interrupt(stop_now=True) as interrupted:
        summary = replay(config, options, interrupted)
        for sig in (signal.SIGINT, signal.SIGTERM):  # one more Ctrl-C must not cut the summary short
            signal.signal(sig, signal.SIG_IGN)
        _report_replay(args, summary)
    return _replay_exit(summary)


def _replay_exit(summary) -> int:
    """A replay's exit status: 0, 3 when rows (or records too large to send) were rejected, 1, 130."""
    if summary.fatal or summary.input_error:
        raise CliError(summary.fatal or summary.input_error)
    if summary.interrupted or summary.abandoned:
        return 130
    if not summary.complete:
        return 1
    return EXIT_REJECTED if summary.rows_rejected else 0


def _report_replay(args, summary) -> None:
    for line in summary.report():
        say(line)
    if summary.stopped_early:
        for line in summary.stop_report():
            say(line)
        command = continuation(args.argv, summary, args.limit)
        if summary.input_error:
            say(f"once the file is mended (or to go on from its readable part), continue with:\n  {command}")
        elif summary.unknown:
            say(f"to continue with no gap (and at most {summary.unknown:,} duplicates, as said above):\n  {command}")
        else:
            say(f"to continue with no gap and no duplicate:\n  {command}")
        say(f"(progress kept in {summary.progress_path})")


def cmd_generate(args) -> int:
    """``clickflow generate OUTPUT``: synthetic REES46 events (or any schema with ``--template``)."""
    if args.template:
        return _generate_from_template(args)
    from producer.generate import GenerateOptions, write_generated
    from producer.progress import ProgressLine

    if not args.output:
        raise CliError("give OUTPUT, the CSV to write (or --template FILE for records of any schema)")
    options = GenerateOptions(
        events=args.events,
        start=args.start,
        rate=args.rate or 50.0,
        seed=args.seed,
        users=args.users,
        categories=args.categories,
        products=args.products,
        bots=args.bots,
        spikes=args.spikes,
        abandoned=args.abandoned,
        bot_waves=args.bot_waves,
        surges=args.surges,
        purchase_drops=args.purchase_drops,
    )
    try:
        options.validate()
    except ValueError as exc:
        raise CliError(str(exc)) from None
    done = [0]
    with ProgressLine(lambda: f"generated {done[0]:,} / {args.events:,} events", enabled=not args.quiet):
        count, labels = write_generated(
            options,
            Path(args.output),
            Path(args.labels) if args.labels else None,
            on_row=lambda n: done.__setitem__(0, n),
        )
    injected = json.loads(labels.read_text())["injected"]
    kinds: dict[str, int] = {}
    for label in injected:
        kinds[label["kind"]] = kinds.get(label["kind"], 0) + 1
    say(f"wrote {count:,} events to {args.output}")
    say(f"labels: {labels} ({', '.join(f'{n} {k}' for k, n in sorted(kinds.items())) or 'nothing injected'})")
    return 0


def _generate_from_template(args) -> int:
    from producer.progress import ProgressLine
    from producer.templates import RenderOptions, keyed_records, load_templates, write_records

    if bool(args.output) == bool(args.stream):
        raise CliError("with --template, give either OUTPUT (a file to write) or --stream NAME (to send), not both")
    templates = load_templates(Path(args.template), seed=args.seed, faker_pool=args.faker_pool)
    options = RenderOptions(
        seed=args.seed,
        count=args.count,
        start=args.start,
        events_per_second=args.events_per_second,
        session_length=args.session_length,
        users=args.users,
    )
    if args.output:
        done = [0]
        with ProgressLine(lambda: f"rendered {done[0]:,} / {args.count:,} records", enabled=not args.quiet):
            count = write_records(templates, options, Path(args.output), lambda n: done.__setitem__(0, n))
        say(f"wrote {count:,} records to {args.output} from {args.template} (seed {args.seed})")
        return 0
    from producer.replay import ReplayOptions, replay

    config = load(args)
    replay_options = ReplayOptions(
        source=f"{args.template}#seed={args.seed}",
        stream=args.stream,
        rate=args.rate,
        resume_from=args.resume_from,
        resume=args.resume,
        progress=not args.quiet,
    )
    records = keyed_records(templates, options, args.partition_key)
    with graceful_interrupt(stop_now=True) as interrupted:
        summary = replay(config, replay_options, interrupted, records=records, total=args.count)
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
        _report_replay(args, summary)
    return _replay_exit(summary)


def cmd_put(args) -> int:
    """``clickflow put --json``: one record onto a stream."""
    from connectors import aws
    from producer.records import put_record

    config = load(args)

    def not_json(constant: str):
        raise CliError(f"--json is not valid JSON: {constant} is not a JSON value (write null, or a number)")

    try:
        document = json.loads(args.json, parse_constant=not_json)
    except json.JSONDecodeError as exc:
        raise CliError(f"--json is not valid JSON: {exc.msg} at character {exc.pos}") from None
    if not isinstance(document, dict):
        raise CliError('--json must be a JSON object, e.g. \'{"event_type": "view", "category_id": 1}\'')
    stream = args.stream or config.stream("events").name
    try:
        result = put_record(aws.client(config, "kinesis"), stream, document, args.partition_key)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    say(json.dumps({"stream": stream, **result}))
    return 0


def _parse_start(text: str):
    lowered = text.lower()
    if lowered in ("trim_horizon", "latest"):
        return lowered
    return parse_time(text)


def cmd_tail(args) -> int:
    """``clickflow tail``: print a stream's records as they arrive."""
    from connectors import aws
    from producer.records import iter_stream

    config = load(args)
    stream = args.stream or config.stream("events").name
    with graceful_interrupt() as stop:
        for record in iter_stream(
            aws.client(config, "kinesis"), stream, args.start, args.limit, args.idle_exit, stop=stop
        ):
            payload = record.payload()
            if args.with_meta:
                payload = {
                    "shard_id": record.shard_id,
                    "sequence_number": record.sequence_number,
                    "partition_key": record.partition_key,
                    "arrival": record.arrival.astimezone(UTC).isoformat(),
                    "data": payload,
                }
            print(json.dumps(payload, ensure_ascii=False), flush=True)
    return 0


def parser_replay(add) -> None:
    """The arguments of `clickflow replay`."""
    p = add(
        "replay",
        "replay a clickstream CSV (local or s3://) into a Kinesis stream",
        "Stream a REES46-schema CSV (.csv or .csv.gz, local path or s3://bucket/key) into Kinesis as JSON "
        "records, partitioned by category_id. Bad rows are skipped, counted and written with their line "
        "number and reason to a rejects file. Ctrl-C finishes the batches in flight and prints the last "
        "line sent, for --resume-from.\n\nexamples:\n"
        "  clickflow replay sample.csv\n"
        "  clickflow replay s3://clickflow-data/raw/2019-10-01.csv.gz --speedup 60\n"
        "  clickflow replay big.csv --rate 1000 --limit 50000 --retime",
    )
    p.add_argument("source", help="a .csv or .csv.gz file: a local path or s3://bucket/key")
    p.add_argument("--stream", help="target stream (default: the profile's streams.events.name)")
    p.add_argument(
        "--partition-key",
        default="category_id",
        metavar="COLUMN",
        help="column whose value is the partition key (default: category_id)",
    )
    pace = p.add_mutually_exclusive_group()
    pace.add_argument("--rate", type=positive_number, metavar="N", help="send N records per second")
    pace.add_argument(
        "--speedup",
        type=positive_number,
        metavar="X",
        help="keep the file's own timing between events, X times faster (1 = real time)",
    )
    p.add_argument(
        "--limit",
        type=count(1),
        metavar="N",
        help="stop after sending N records (with --resume: N in all, the earlier runs' records included)",
    )
    resuming = p.add_mutually_exclusive_group()
    resuming.add_argument(
        "--resume-from",
        type=count(0),
        default=0,
        metavar="LINE",
        help="skip every line up to and including LINE",
    )
    resuming.add_argument(
        "--resume",
        action="store_true",
        help="continue an earlier replay of this SOURCE into this stream from its progress file "
        "(kept under .clickflow/replay/ as it goes, so even a killed replay can continue)",
    )
    p.add_argument("--retime", action="store_true", help="shift every event_time so the replay starts now")
    p.add_argument(
        "--rejects", metavar="FILE", help="where to write rejected rows (default: under .clickflow/rejects/)"
    )
    p.add_argument(
        "--client",
        choices=["http", "boto3"],
        default="http",
        help="PutRecords client: clickflow's own signed HTTP client (default, faster) or boto3",
    )
    p.add_argument("--quiet", action="store_true", help="no live progress line")
    p.set_defaults(func=cmd_replay)


def parser_generate(add) -> None:
    """The arguments of `clickflow generate`."""
    p = add(
        "generate",
        "write a synthetic clickstream (labelled bots, spikes, abandoned carts), or records of any schema from a "
        "template, to a file or a stream",
        "Write a deterministic synthetic clickstream (same --seed and options, same bytes) in the REES46 "
        "schema: shopping sessions that browse, cart and sometimes buy, with skewed category and brand "
        "popularity. Optionally inject bot bursts, traffic spikes and abandoned carts, and, in the second half, "
        "bot waves, category surges and purchase drops (changes of make-up the fixed rules miss, for the "
        "learned rcf_traffic); a labels file "
        "(OUTPUT.labels.json) says exactly what was injected and when.\n\n"
        "With --template, records of any schema instead, from a template in the Kinesis Data Generator's syntax "
        "({{random.number(...)}}, {{random.arrayElement([...])}}, {{random.weightedArrayElement({...})}}, "
        "{{random.uuid}}, {{date.now(format)}}, {{date.between(...)}}, faker helpers name.*, address.*, "
        "internet.*, commerce.*, lorem.*) plus a seed, --count, {{session.id}}/{{session.user}} kept for a visit, "
        "{{event.time(format)}} moving forward at --events-per-second, and {{sequence}}: written to OUTPUT, or sent "
        "to --stream through the replay's delivery (batches, lanes, retries, --rate, progress, Ctrl-C and resume). "
        "An error names the template, line and column.\n\nexamples:\n"
        "  clickflow generate sample.csv --events 50000 --bots 3 --spikes 2 --abandoned 5 --seed 42\n"
        "  clickflow generate learned.csv --events 60000 --rate 20 --bot-waves 2 --surges 2 --purchase-drops 2\n"
        "  clickflow generate films.jsonl --template templates/film-streaming.json.tpl --count 100000\n"
        "  clickflow generate --template templates/web-engagement.yaml --stream web-events --count 1000000",
    )
    p.add_argument("output", nargs="?", help="the file to write (.csv or .csv.gz; with --template: any, e.g. .jsonl)")
    p.add_argument("--events", type=count(1), default=100_000, help="how many events (default: 100000)")
    p.add_argument("--seed", type=int, default=1, help="random seed (default: 1)")
    p.add_argument(
        "--start",
        type=parse_time,
        default=datetime(2019, 10, 1, tzinfo=UTC),
        help="time of the first event, UTC (default: 2019-10-01 00:00:00)",
    )
    p.add_argument(
        "--rate",
        type=positive_number,
        help="REES46: mean events per second of event time (default: 50); --template with --stream: records "
        "sent per second (default: as fast as the stream takes them)",
    )
    p.add_argument("--users", type=count(1), default=20_000, help="size of the visitor pool (default: 20000)")
    p.add_argument("--categories", type=count(1), default=200, help="number of categories (default: 200)")
    p.add_argument("--products", type=count(1), default=5_000, help="number of products (default: 5000)")
    p.add_argument("--bots", type=count(0), default=0, help="bot bursts to inject (default: 0)")
    p.add_argument("--spikes", type=count(0), default=0, help="traffic spikes to inject (default: 0)")
    p.add_argument("--abandoned", type=count(0), default=0, help="abandoned-cart sessions to inject (default: 0)")
    p.add_argument(
        "--bot-waves",
        type=count(0),
        default=0,
        help="waves of bots, each below the bot threshold, to inject in the second half (default: 0)",
    )
    p.add_argument(
        "--surges", type=count(0), default=0, help="one-category surges to inject in the second half (default: 0)"
    )
    p.add_argument(
        "--purchase-drops",
        type=count(0),
        default=0,
        help="60 s without carts or purchases to inject in the second half (default: 0)",
    )
    p.add_argument("--labels", metavar="FILE", help="labels file (default: OUTPUT.labels.json)")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    tpl = p.add_argument_group("records of any schema, from a template (Kinesis Data Generator syntax)")
    tpl.add_argument("--template", metavar="FILE", help="a .tpl file, or a .yaml of weighted templates (templates/)")
    tpl.add_argument("--count", type=count(1), default=1000, help="records to make (default: 1000)")
    tpl.add_argument("--stream", metavar="NAME", help="send them to this stream instead of writing OUTPUT")
    tpl.add_argument("--partition-key", metavar="FIELD", help="the records' field to partition by (default: spread)")
    tpl.add_argument(
        "--events-per-second",
        type=positive_number,
        default=50.0,
        help="how fast {{event.time}} moves: mean events per second of event time (default: 50)",
    )
    tpl.add_argument(
        "--session-length",
        type=positive_number,
        default=8.0,
        help="mean events per visit: {{session.id}} and {{session.user}} stay for a run (default: 8)",
    )
    tpl.add_argument(
        "--faker-pool", type=count(1), default=10_000, help="values Faker makes per faker helper (default: 10000)"
    )
    resuming = tpl.add_mutually_exclusive_group()
    resuming.add_argument("--resume-from", type=count(0), default=0, metavar="N", help="skip records 1..N")
    resuming.add_argument("--resume", action="store_true", help="continue an earlier send from its progress file")
    p.set_defaults(func=cmd_generate)


def parser_put(add) -> None:
    """The arguments of `clickflow put`."""
    p = add(
        "put",
        "put one JSON record into a stream",
        "Put one JSON object into a stream, partitioned by --partition-key or else by its category_id.\n\n"
        'example:\n  clickflow put --json \'{"event_type": "view", "category_id": 2053013555631882655}\'',
    )
    p.add_argument("--stream", help="target stream (default: the profile's streams.events.name)")
    p.add_argument("--json", required=True, metavar="OBJECT", help="the record, a JSON object")
    p.add_argument("--partition-key", metavar="KEY", help="partition key (default: the object's category_id)")
    p.set_defaults(func=cmd_put)


def parser_tail(add) -> None:
    """The arguments of `clickflow tail`."""
    p = add(
        "tail",
        "print a stream's records, one JSON object per line",
        "Read every shard of a stream (following child shards after a reshard) and print each record as "
        "one line of JSON. Runs until Ctrl-C, --limit or --idle-exit.\n\nexamples:\n"
        "  clickflow tail --from trim_horizon --limit 10\n"
        "  clickflow tail --stream clickflow-events --from latest --with-meta",
    )
    p.add_argument("--stream", help="stream to read (default: the profile's streams.events.name)")
    p.add_argument(
        "--from",
        dest="start",
        type=_parse_start,
        default="latest",
        metavar="WHERE",
        help="trim_horizon (the oldest record), latest (default: new records only), or a UTC time",
    )
    p.add_argument("--limit", type=count(1), metavar="N", help="stop after N records")
    p.add_argument(
        "--idle-exit", type=positive_number, metavar="SECONDS", help="stop after SECONDS without a new record"
    )
    p.add_argument("--with-meta", action="store_true", help="wrap each record with its shard, sequence number and key")
    p.set_defaults(func=cmd_tail)
