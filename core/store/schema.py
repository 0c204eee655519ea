"""The database schema, created and upgraded by migrations.

Each migration is applied once, in order, inside a transaction, and recorded by sqlite-utils in
`_sqlite_migrations`. `PRAGMA user_version` mirrors the number of applied migrations so that an
older nerloop can refuse a database written by a newer one before touching it.

Never edit a migration that has shipped: add a new one.
"""

from __future__ import annotations

from sqlite_utils import Database, Migrations

MIGRATION_SET = "nerloop"
migrations = Migrations(MIGRATION_SET)


@migrations(name="0001_initial")
def m0001_initial(db: Database) -> None:
    db.executescript(
        """
        CREATE TABLE texts (
            id INTEGER PRIMARY KEY,
            input_hash INTEGER NOT NULL UNIQUE,
            text TEXT NOT NULL,
            meta TEXT NOT NULL DEFAULT '{}',
            source TEXT,
            split TEXT NOT NULL DEFAULT 'pool' CHECK (split IN ('pool', 'gold')),
            created TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
        );
        CREATE INDEX texts_split ON texts (split, id);

        CREATE TABLE imports (
            id INTEGER PRIMARY KEY,
            path TEXT NOT NULL,
            format TEXT NOT NULL,
            split TEXT NOT NULL,
            added INTEGER NOT NULL,
            duplicates INTEGER NOT NULL,
            rejected INTEGER NOT NULL,
            answers INTEGER NOT NULL DEFAULT 0,
            created TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
        );

        CREATE TABLE taxonomy_versions (
            version INTEGER PRIMARY KEY,
            content_hash TEXT NOT NULL,
            source TEXT NOT NULL,
            created TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
        );
        CREATE TABLE labels (
            version INTEGER NOT NULL REFERENCES taxonomy_versions (version),
            position INTEGER NOT NULL,
            name TEXT NOT NULL,
            description TEXT NOT NULL DEFAULT '',
            kind TEXT NOT NULL CHECK (kind IN ('ner', 'rule')),
            terms TEXT NOT NULL DEFAULT '[]',
            patterns TEXT NOT NULL DEFAULT '[]',
            examples TEXT NOT NULL DEFAULT '[]',
            PRIMARY KEY (version, name)
        );

        CREATE TABLE proposals (
            id INTEGER PRIMARY KEY,
            text_id INTEGER NOT NULL REFERENCES texts (id),
            label TEXT NOT NULL,
            start INTEGER NOT NULL,
            "end" INTEGER NOT NULL,
            token_start INTEGER NOT NULL,
            token_end INTEGER NOT NULL,
            source TEXT NOT NULL CHECK (source IN ('llm', 'rule', 'model', 'import')),
            source_detail TEXT NOT NULL DEFAULT '',
            score REAL,
            context TEXT,
            task_hash INTEGER NOT NULL,
            created TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
            CHECK (start < "end" AND token_start <= token_end)
        );
        -- One proposal per text, label, span and source: the same span from the LLM and from the
        -- model are two proposals (the A/B needs both), but asking twice stores nothing new.
        CREATE UNIQUE INDEX proposals_task_source ON proposals (task_hash, source);
        CREATE INDEX proposals_text_label ON proposals (text_id, label);
        CREATE INDEX proposals_label_source ON proposals (label, source, id);

        -- Append-only: an undo is a new row that names the answer it takes back.
        CREATE TABLE answers (
            id INTEGER PRIMARY KEY,
            proposal_id INTEGER NOT NULL REFERENCES proposals (id),
            annotator TEXT NOT NULL,
            answer TEXT NOT NULL CHECK (answer IN ('accept', 'reject', 'ignore', 'undo')),
            undoes INTEGER REFERENCES answers (id),
            start INTEGER,
            "end" INTEGER,
            token_start INTEGER,
            token_end INTEGER,
            session TEXT NOT NULL DEFAULT '',
            created TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
            CHECK ((answer = 'undo') = (undoes IS NOT NULL))
        );
        CREATE INDEX answers_proposal ON answers (proposal_id, id);
        CREATE INDEX answers_annotator ON answers (annotator, id);
        CREATE UNIQUE INDEX answers_undoes ON answers (undoes) WHERE undoes IS NOT NULL;

        -- A task (one text and label, all its proposals asked together) is leased to one
        -- annotator at a time; a lease that expires goes back to the pool.
        CREATE TABLE leases (
            text_id INTEGER NOT NULL REFERENCES texts (id),
            label TEXT NOT NULL,
            annotator TEXT NOT NULL,
            expires REAL NOT NULL,
            PRIMARY KEY (text_id, label, annotator)
        );
        CREATE INDEX leases_expires ON leases (expires);

        CREATE TABLE gold (
            id INTEGER PRIMARY KEY,
            text_id INTEGER NOT NULL REFERENCES texts (id),
            annotator TEXT NOT NULL,
            spans TEXT NOT NULL DEFAULT '[]',
            done INTEGER NOT NULL DEFAULT 0,
            updated TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
            UNIQUE (text_id, annotator)
        );

        CREATE TABLE llm_calls (
            id INTEGER PRIMARY KEY,
            cache_key TEXT NOT NULL,
            model TEXT NOT NULL,
            prompt_version TEXT NOT NULL,
            text_hash INTEGER NOT NULL,
            label TEXT NOT NULL,
            request TEXT NOT NULL,
            response TEXT,
            tokens_in INTEGER NOT NULL DEFAULT 0,
            tokens_out INTEGER NOT NULL DEFAULT 0,
            latency_ms REAL NOT NULL DEFAULT 0,
            attempts INTEGER NOT NULL DEFAULT 1,
            error TEXT,
            created TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
        );
        CREATE INDEX llm_calls_key ON llm_calls (cache_key, id);

        CREATE TABLE embeddings (
            text_id INTEGER NOT NULL REFERENCES texts (id),
            model TEXT NOT NULL,
            dim INTEGER NOT NULL,
            vector BLOB NOT NULL,
            PRIMARY KEY (text_id, model)
        );

        CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            status TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed', 'cancelled')),
            model_path TEXT,
            config TEXT NOT NULL DEFAULT '',
            counts TEXT NOT NULL DEFAULT '{}',
            scores TEXT NOT NULL DEFAULT '{}',
            log TEXT NOT NULL DEFAULT '',
            promoted INTEGER NOT NULL DEFAULT 0,
            started TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
            finished TEXT
        );

        CREATE TABLE label_settings (
            label TEXT PRIMARY KEY,
            llm_off INTEGER NOT NULL DEFAULT 0
        );
        """
    )


@migrations(name="0002_queue")
def m0002_queue(db: Database) -> None:
    db.executescript(
        """
        -- The queue asks model proposals in informativeness order (score nearest 0.5 first);
        -- an index on that expression keeps "next task" a short index walk at millions of rows.
        CREATE INDEX proposals_informative ON proposals (label, source, abs(score - 0.5), id);

        -- Which texts a source has already been run over for a label, whether or not it found
        -- anything: without it, texts where rules match nothing would be re-run forever.
        CREATE TABLE proposer_coverage (
            label TEXT NOT NULL,
            source TEXT NOT NULL,
            text_id INTEGER NOT NULL REFERENCES texts (id),
            created TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
            PRIMARY KEY (label, source, text_id)
        ) WITHOUT ROWID;

        CREATE INDEX leases_annotator ON leases (annotator, expires);
        """
    )


@migrations(name="0003_runs_process")
def m0003_runs_process(db: Database) -> None:
    db.executescript(
        """
        -- The training worker's process id, so a run whose process died (killed, machine
        -- restarted) is recognised as failed instead of blocking new runs forever; and why the
        -- run was started (train, retrain, curve).
        ALTER TABLE runs ADD COLUMN pid INTEGER;
        ALTER TABLE runs ADD COLUMN purpose TEXT NOT NULL DEFAULT 'train';
        CREATE INDEX runs_status ON runs (status, id);
        """
    )


@migrations(name="0004_ab_answers")
def m0004_ab_answers(db: Database) -> None:
    db.executescript(
        """
        -- Blind A/B choices between the LLM's and the model's spans for one text and label.
        -- Append-only like answers: an undo is a new row naming the choice it takes back. The
        -- two span sets are kept as shown, so a tally stays true after either source changes.
        CREATE TABLE ab_answers (
            id INTEGER PRIMARY KEY,
            text_id INTEGER NOT NULL REFERENCES texts (id),
            label TEXT NOT NULL,
            annotator TEXT NOT NULL,
            choice TEXT NOT NULL CHECK (choice IN ('llm', 'model', 'same', 'undo')),
            a_source TEXT NOT NULL CHECK (a_source IN ('llm', 'model')),
            llm_spans TEXT NOT NULL DEFAULT '[]',
            model_spans TEXT NOT NULL DEFAULT '[]',
            model_detail TEXT NOT NULL DEFAULT '',
            undoes INTEGER REFERENCES ab_answers (id),
            session TEXT NOT NULL DEFAULT '',
            created TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
            CHECK ((choice = 'undo') = (undoes IS NOT NULL))
        );
        CREATE INDEX ab_answers_label ON ab_answers (label, annotator, text_id);
        CREATE UNIQUE INDEX ab_answers_undoes ON ab_answers (undoes) WHERE undoes IS NOT NULL;
        """
    )


@migrations(name="0005_pretrain_runs")
def m0005_pretrain_runs(db: Database) -> None:
    db.executescript(
        """
        -- tok2vec pretraining runs (`nerloop pretrain`): a table of their own, not rows of
        -- runs, so that pretraining on a large pool never blocks (re)training, and the runs
        -- table stays one row a model. losses is the loss of each epoch, in order.
        CREATE TABLE pretrain_runs (
            id INTEGER PRIMARY KEY,
            status TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed', 'cancelled')),
            weights_path TEXT,
            config TEXT NOT NULL DEFAULT '',
            counts TEXT NOT NULL DEFAULT '{}',
            losses TEXT NOT NULL DEFAULT '[]',
            error TEXT,
            log TEXT NOT NULL DEFAULT '',
            pid INTEGER,
            started TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
            finished TEXT
        );
        CREATE INDEX pretrain_runs_status ON pretrain_runs (status, id);
        """
    )


@migrations(name="0006_text_marks")
def m0006_text_marks(db: Database) -> None:
    conn = db.conn
    # Spans an annotator marks by hand (the LLM missed them) are proposals of source 'human',
    # answered like any other. SQLite cannot widen a CHECK in place, and the project runs with
    # foreign keys on inside the migration's transaction (no PRAGMA foreign_keys there), so
    # proposals and answers (its only child) are rebuilt as copies and swapped in, child
    # first: dropping the old tables then orphans nothing.
    tables = {
        name: sql
        for name, sql in conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'table' "
            "AND name IN ('proposals', 'answers')"
        )
    }
    indexes = [
        sql
        for (sql,) in conn.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
            "AND tbl_name IN ('proposals', 'answers')"
        )
    ]
    proposals = (
        tables["proposals"]
        .replace("CREATE TABLE proposals", "CREATE TABLE proposals_new", 1)
        .replace("'model', 'import')", "'model', 'import', 'human')", 1)
    )
    answers = (
        tables["answers"]
        .replace("CREATE TABLE answers", "CREATE TABLE answers_new", 1)
        .replace("REFERENCES proposals (id)", "REFERENCES proposals_new (id)", 1)
        .replace("REFERENCES answers (id)", "REFERENCES answers_new (id)", 1)
    )
    conn.execute(proposals)
    conn.execute("INSERT INTO proposals_new SELECT * FROM proposals")
    conn.execute(answers)
    conn.execute("INSERT INTO answers_new SELECT * FROM answers ORDER BY id")
    conn.execute("DROP TABLE answers")
    conn.execute("DROP TABLE proposals")
    # Renaming rewrites the references to the new names (SQLite >= 3.26).
    conn.execute("ALTER TABLE proposals_new RENAME TO proposals")
    conn.execute("ALTER TABLE answers_new RENAME TO answers")
    for sql in indexes:
        conn.execute(sql)
    # One statement at a time: executescript would commit the half-done swap above.
    conn.execute(
        # What an annotator said about a whole pool text: 'complete' (every entity of every
        # ner label is accepted: the rest is no entity) or 'flagged' (something is missing,
        # not marked: the uncovered tokens are unknown). Append-only like answers: an undo is
        # a new row naming the mark it takes back; the latest live mark of a text wins.
        """
        CREATE TABLE text_marks (
            id INTEGER PRIMARY KEY,
            text_id INTEGER NOT NULL REFERENCES texts (id),
            annotator TEXT NOT NULL,
            mark TEXT NOT NULL CHECK (mark IN ('complete', 'flagged', 'undo')),
            undoes INTEGER REFERENCES text_marks (id),
            session TEXT NOT NULL DEFAULT '',
            created TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
            CHECK ((mark = 'undo') = (undoes IS NOT NULL))
        )
        """
    )
    conn.execute("CREATE INDEX text_marks_text ON text_marks (text_id, id)")
    conn.execute(
        "CREATE UNIQUE INDEX text_marks_undoes ON text_marks (undoes) WHERE undoes IS NOT NULL"
    )


def latest_version() -> int:
    """The schema version this code writes: the number of migrations it knows."""
    return len(migrations._migrations)
