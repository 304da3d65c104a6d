"""Row-level checks of framed landing records against a source contract: pure DataFrame -> DataFrame transforms.

:func:`parse_records` reads each record's JSON into one string column per contract field; :func:`type_and_check`
casts them to the contract's types and collects, per row, the ``_errors`` that send it to quarantine (a required
field missing or malformed, an unknown value of a required enum, a broken row rule, a framing error) and the
``_problems`` that only null an optional field. :func:`find_repeats` and :func:`with_repeats` add duplicate-key
errors (:func:`flag_duplicates` is both in one step). Nothing here creates a session or touches storage, so every
function is tested on inline rows on Sail and on JVM Spark.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from ingest.contracts import LINE_FIELDS, Field, FieldType, SourceContract
from ingest.parsing import KEY_REPEATED, parse_batches, parsed_schema
from ingest.suppression import SUPPRESSED

ISSUE_TYPE = "array<struct<field:string,reason:string>>"
LINEAGE_COLUMNS = ("_source_file", "_row_number", "_file_checksum")
QUARANTINE_COLUMNS = (*LINEAGE_COLUMNS, "_raw", "_errors", "_error_summary")


def _issue(field: str, reason: Column) -> Column:
    return F.struct(F.lit(field).alias("field"), reason.alias("reason"))


def _issues(*arrays: Column) -> Column:
    """Concatenate issue arrays (each may hold nulls for checks that passed) and drop the nulls."""
    merged = F.concat(*[a.cast(ISSUE_TYPE) for a in arrays]) if len(arrays) > 1 else arrays[0].cast(ISSUE_TYPE)
    return F.filter(merged, lambda issue: issue.isNotNull())


def _shown(value: Column) -> Column:
    """The offending value, quoted and cut short, for a reason a person reads (never a whole record)."""
    return F.concat(F.lit("'"), F.substring(value, 1, 40), F.lit("'"))


def parse_records(framed: DataFrame, contract: SourceContract) -> DataFrame:
    """Framed rows (``ingest.framing.FRAMED_SCHEMA``) -> one string column per contract field, plus lineage,
    ``_raw`` and ``_frame_error`` (a record that is not a JSON object gets one here). The parse is
    :mod:`ingest.parsing`, in a ``mapInArrow`` function; the ingest job frames and parses in one such function."""
    return framed.mapInArrow(parse_batches(contract), parsed_schema(contract))


def _cast(field: Field, value: Column) -> Column:
    """The typed value, or null when it does not parse."""
    if field.accepted_values:
        # Case-insensitive match, stored in the contract's spelling ("Web" and "WEB" are both "web").
        values = field.accepted_values
        if all(v == v.lower() for v in values) or all(v == v.upper() for v in values):
            folded = F.lower(value) if values[0] == values[0].lower() else F.upper(value)
            return F.when(folded.isin(*values), folded)
        lowered, typed = F.lower(value), F.lit(None).cast("string")
        for accepted in reversed(values):
            typed = F.when(lowered == accepted.lower(), F.lit(accepted)).otherwise(typed)
        return typed
    if field.type in (FieldType.STRING,):
        return value
    if field.type is FieldType.JSON:
        return F.when(F.startswith(value, F.lit("{")), value)  # a prefix test: cheaper than substring()
    if field.type is FieldType.LINES:
        return _typed_lines(value)
    return value.try_cast(field.type.value)


def _typed_lines(value: Column) -> Column:
    """Order lines: a JSON array of objects with a typed sku/category/quantity/unit_price; null when any is bad."""
    as_text = "array<struct<" + ",".join(f"{f.name}:string" for f in LINE_FIELDS) + ">>"
    lines = F.from_json(value, as_text)
    typed = F.transform(
        lines,
        lambda line: F.struct(
            *[
                (line[f.name] if f.type is FieldType.STRING else line[f.name].try_cast(f.type.value)).alias(f.name)
                for f in LINE_FIELDS
            ]
        ),
    )

    def broken(line: Column) -> Column:
        return F.greatest(*[line[f.name].isNull() for f in LINE_FIELDS if f.required])

    return F.when(lines.isNotNull() & ~F.exists(typed, broken), typed)


def _expected(field: Field) -> str:
    if field.accepted_values:
        return "one of " + "|".join(field.accepted_values)
    return {
        FieldType.INTEGER: "an integer",
        FieldType.DECIMAL: "a decimal number",
        FieldType.BOOLEAN: "true or false",
        FieldType.TIMESTAMP: "an ISO-8601 timestamp",
        FieldType.DATE: "a date YYYY-MM-DD",
        FieldType.JSON: "a JSON object",
        FieldType.LINES: "a JSON array of {sku, category, quantity, unit_price}",
    }.get(field.type, "a string")


def type_and_check(parsed: DataFrame, contract: SourceContract, *, raw_of_valid_rows: bool = True) -> DataFrame:
    """Cast every field to its contract type and collect ``_errors`` (row quarantined) and ``_problems``
    (optional field set to null, row kept).

    With ``raw_of_valid_rows=False``, ``_raw`` is kept only where the quarantine may need it: rows with errors, and
    rows whose deduplication key repeats in their file (``_key_repeated``, set by the parser; one of them will be a
    duplicate). The job checkpoints these rows: the raw text is most of their bytes, and almost every row is valid.
    A valid row found later to repeat a key of another file or run has no raw text here; the job re-reads it from
    its file and line (:func:`ingest.framing.raw_records`)."""
    typed = {f.name: _cast(f, F.col(f.name)) for f in contract.fields}
    errors: list[Column] = []
    problems: list[Column] = []
    any_error, any_problem = F.lit(False), F.lit(False)
    for field in contract.fields:
        raw, value = F.col(field.name), typed[field.name]
        if field.type is FieldType.STRING and not field.accepted_values:
            if field.required:  # free text cannot be malformed, only missing
                errors.append(F.when(raw.isNull(), _issue(field.name, F.lit("missing required field"))))
                any_error = any_error | raw.isNull()
            continue
        malformed = raw.isNotNull() & value.isNull()
        reason = F.concat(F.lit(f"expected {_expected(field)}, got "), _shown(raw))
        if field.required:
            errors.append(F.when(raw.isNull(), _issue(field.name, F.lit("missing required field"))))
            errors.append(F.when(malformed, _issue(field.name, reason)))
            any_error = any_error | value.isNull()
        else:
            problems.append(F.when(malformed, _issue(field.name, reason)))
            any_problem = any_problem | malformed
    # Most rows are clean: the issue arrays are only built for rows that have an issue.
    checked = parsed.select(
        "_file_order",
        *LINEAGE_COLUMNS,
        "_raw",
        *([] if raw_of_valid_rows else [KEY_REPEATED]),
        "_frame_error",
        *[typed[f.name].alias(f.name) for f in contract.fields],
        F.when(any_error, _issues(F.array(*errors))).otherwise(_issues(F.array())).alias("_errors"),
        F.when(any_problem, _issues(F.array(*problems) if problems else F.array()))
        .otherwise(_issues(F.array()))
        .alias("_problems"),
    )
    # Row rules see typed values; a rule whose inputs are null (already reported) does not pile on.
    rule_errors = [
        F.when(
            ~F.coalesce(F.expr(rule.condition), F.lit(True)),
            _issue(",".join(rule.fields) or rule.name, F.lit(rule.message)),
        )
        for rule in contract.rules
    ]
    field_errors = _issues(F.col("_errors"), F.array(*rule_errors) if rule_errors else F.array())
    # A record that could not be framed or parsed has one error, the real one; its fields are not piled on.
    framing_error = _issues(F.array(_issue("_record", F.col("_frame_error"))))
    result = checked.select(
        "_file_order",
        *LINEAGE_COLUMNS,
        "_raw",
        *([] if raw_of_valid_rows else [KEY_REPEATED]),
        *contract.field_names,
        F.when(F.col("_frame_error").isNull(), field_errors).otherwise(framing_error).alias("_errors"),
        F.when(F.col("_frame_error").isNull(), F.col("_problems")).otherwise(_issues(F.array())).alias("_problems"),
        "_frame_error",
    )
    if raw_of_valid_rows:
        return result
    # Over the computed `_errors` (a projection of its own), so the checks are not evaluated twice.
    needed = (F.size("_errors") > 0) | F.coalesce(F.col(KEY_REPEATED), F.lit(False))
    return result.withColumn("_raw", F.when(needed, F.col("_raw"))).drop(KEY_REPEATED)


def find_repeats(checked: DataFrame, key: str, already_ingested: DataFrame | None) -> DataFrame:
    """The rows that repeat ``key``: a later copy within this batch, or a key seen in an earlier run
    (``already_ingested`` has the column ``key``). The first valid occurrence (by file, then line) is kept.

    Returns only (``_file_order``, ``_row_number``, ``_repeat_issues``) for the repeats: the search runs on a narrow
    projection and the result is small, so wide records are never shuffled."""
    position = ["_file_order", "_row_number"]
    occurrences = checked.filter(F.col(key).isNotNull()).select(
        key, *position, "_source_file", (F.size("_errors") > 0).cast("int").alias("_invalid")
    )
    # Count first (cheap), then order only the keys that repeat: usually a handful of rows.
    repeated_keys = occurrences.groupBy(key).count().filter("count > 1").select(key)
    first = Window.partitionBy(key).orderBy("_invalid", *position)
    later_copies = (
        occurrences.join(repeated_keys, key, "left_semi")
        .withColumn("_rank", F.row_number().over(first))
        .withColumn("_first_file", F.first("_source_file").over(first))
        .withColumn("_first_row", F.first("_row_number").over(first))
        .filter("_rank > 1")
        .select(
            *position,
            _issue(
                key,
                F.concat(
                    F.lit(f"duplicate {key}: first seen in "),
                    F.col("_first_file"),
                    F.lit(" line "),
                    F.col("_first_row").cast("string"),
                ),
            ).alias("_issue"),
        )
    )
    repeats = later_copies
    if already_ingested is not None:
        seen_before = occurrences.join(already_ingested.select(key).distinct(), key, "left_semi").select(
            *position, _issue(key, F.lit(f"duplicate {key}: already ingested in an earlier run")).alias("_issue")
        )
        repeats = repeats.unionByName(seen_before)
    return repeats.groupBy(*position).agg(F.collect_list("_issue").alias("_repeat_issues"))


def with_repeats(checked: DataFrame, repeats: DataFrame) -> DataFrame:
    """Add each repeat's issues to its ``_errors`` (a broadcast join of the small ``repeats`` result)."""
    flagged = checked.join(F.broadcast(repeats), ["_file_order", "_row_number"], "left")
    repeated = F.col("_repeat_issues").isNotNull()  # a handful of rows: only theirs are rebuilt
    return flagged.select(
        *[F.col(c) for c in checked.columns if c != "_errors"],
        F.when(repeated, _issues(F.col("_errors"), F.col("_repeat_issues")))
        .otherwise(F.col("_errors"))
        .alias("_errors"),
    )


def flag_duplicates(checked: DataFrame, key: str, already_ingested: DataFrame | None) -> DataFrame:
    """:func:`find_repeats` and :func:`with_repeats` in one step."""
    return with_repeats(checked, find_repeats(checked, key, already_ingested))


def validate(framed: DataFrame, contract: SourceContract) -> DataFrame:
    """Framed records -> typed rows with ``_errors`` and ``_problems`` (duplicates are flagged separately, by
    :func:`flag_duplicates`, after the job has checkpointed these rows)."""
    return type_and_check(parse_records(framed, contract), contract)


def accepted_rows(validated: DataFrame, contract: SourceContract) -> DataFrame:
    """Rows for bronze: contract columns, the problems of optional fields, and lineage."""
    return validated.filter(F.size("_errors") == 0).select(*contract.field_names, "_problems", *LINEAGE_COLUMNS)


def quarantined_rows(validated: DataFrame) -> DataFrame:
    """Rows for quarantine: lineage, the raw text, every error and a one-line summary naming field and reason."""
    summary = F.concat_ws("; ", F.transform("_errors", lambda e: F.concat(e["field"], F.lit(": "), e["reason"])))
    return validated.filter((F.size("_errors") > 0) & ~_is_suppressed()).select(
        *LINEAGE_COLUMNS, "_raw", "_errors", summary.alias("_error_summary")
    )


def missing_raw(quarantined: DataFrame) -> DataFrame:
    """(``_source_file``, ``_row_number``) of quarantined records whose raw text was not checkpointed (valid rows
    that repeat a key of another file or an earlier run; see :func:`type_and_check`)."""
    return quarantined.filter(F.col("_raw").isNull() & F.col("_row_number").isNotNull()).select(
        "_source_file", "_row_number"
    )


def with_raw(quarantined: DataFrame, reread: DataFrame) -> DataFrame:
    """Fill in the raw text of :func:`quarantined_rows` from ``reread`` (``_source_file``, ``_row_number``,
    ``_raw``)."""
    found = reread.withColumnRenamed("_raw", "_reread_raw")
    joined = quarantined.join(found, ["_source_file", "_row_number"], "left")
    return joined.select(
        *[F.coalesce("_raw", "_reread_raw").alias("_raw") if c == "_raw" else F.col(c) for c in QUARANTINE_COLUMNS]
    )


def _is_suppressed() -> Column:
    """A record dropped for the suppression list (``ingest.suppression``): neither accepted nor quarantined."""
    return F.coalesce(F.col("_frame_error") == F.lit(SUPPRESSED), F.lit(False))


def per_file_counts(validated: DataFrame) -> DataFrame:
    """Per file: records in, accepted, quarantined, suppressed (dropped: an erased person's), and the whole-file
    error if the file was rejected. records_in = accepted + quarantined + suppressed."""
    is_record = F.col("_row_number").isNotNull()
    return validated.groupBy("_source_file").agg(
        F.count("_row_number").alias("records_in"),
        F.sum(F.when(F.size("_errors") == 0, 1).otherwise(0)).alias("accepted"),
        F.sum(F.when((F.size("_errors") > 0) & is_record & ~_is_suppressed(), 1).otherwise(0)).alias("quarantined"),
        F.sum(F.when(_is_suppressed(), 1).otherwise(0)).alias("suppressed"),
        F.max(F.when(~is_record, F.col("_errors")[0]["reason"])).alias("file_error"),
    )
