-- Encodings of spaces described by measured attributes: every architecture row of a space ($1).
SELECT *
FROM architectures
WHERE space_id = $1;
