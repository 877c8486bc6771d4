"""`target.write` and `deletes` against the rest of an entity config: the checks the JSON Schema
cannot express (docs/config.md#write-modes, #deletes), run with the others by config.cross_check."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ingestion.contract.config import EntityConfig


def write_problems(entity: EntityConfig) -> list[str]:
    """`target.write` against the rest: replace takes only complete snapshots, append never
    deletes; a tombstone must name every merge key the run cannot fill in itself."""
    write, deletes, problems = entity.target.write, entity.deletes, []
    if write == "replace" and entity.schedule and entity.schedule.sync_mode != "historical_full":
        problems.append(f"target.write replace: a complete historical_full snapshot replaces the table; "
                        f"schedule.sync_mode {entity.schedule.sync_mode} cannot")
    if write == "replace" and entity.absent_rows == "keep":
        problems.append("target.write replace: rows missing from the snapshot are deleted or flagged; "
                        "full_refresh.absent_rows keep contradicts it")
    if write == "append" and entity.absent_rows == "soft_delete":
        problems.append("target.write append never deletes: full_refresh.absent_rows soft_delete "
                        "does not apply")
    if deletes is not None and write in ("append", "replace"):
        problems.append(f"deletes: for target.write merge or history, not {write}")
    endpoint = deletes.endpoint if deletes else None
    if endpoint is not None:
        filled = set(endpoint.key_fields) | set(entity.records.computed)
        filled |= {entity.fan_out.column} if entity.fan_out else set()
        # the pruned MERGE matches a row inside its partition: a tombstone must carry it too
        needed = [*entity.merge_keys, *([entity.immutable_partition] if entity.immutable_partition else [])]
        problems.extend(f"deletes.endpoint.key_fields: {column!r} is not a merge key"
                        for column in endpoint.key_fields if column not in needed)
        missing = [key for key in needed if key not in filled]
        if missing:
            problems.append(f"deletes.endpoint.key_fields: name where a tombstone holds {', '.join(missing)} "
                            "(every merge key, and the target.partition column when it is immutable)")
    return problems
