"""What every stage writes and shares: output markers, atomic writes, file records and integrity
checks, tables, StageError, system faults and the work dir lock."""
