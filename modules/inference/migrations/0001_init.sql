-- Tokens used, per caller and UTC day: what a daily allowance is enforced against.
CREATE TABLE usage (
  caller TEXT NOT NULL,
  day TEXT NOT NULL,
  model TEXT NOT NULL,
  requests INTEGER NOT NULL DEFAULT 0,
  prompt_tokens INTEGER NOT NULL DEFAULT 0,
  completion_tokens INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (caller, day, model)
) WITHOUT ROWID;
