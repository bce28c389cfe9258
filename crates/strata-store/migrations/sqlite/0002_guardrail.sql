-- Which side of a call a guardrail intervened on (input | output); NULL when none did.
ALTER TABLE usage ADD COLUMN guardrail TEXT;
