"""Civil-status registers: acts (birth, marriage, death, citizenship, civil union) and their
annotations. Writes in `services`, reads in `selectors`, the per-kind data of acts in `schema`."""
