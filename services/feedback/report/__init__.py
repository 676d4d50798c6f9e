"""The recommendation report: built from the feedback, stored, and rendered in four formats.

- `gather` reads what the report needs in one short transaction (a handful of GROUP BY
  queries over covering indexes, counters kept at write time, and the newest `COMMENT_SAMPLE`
  comments of each session and language), so a SQLite write lock is never held while Python
  works; `compose` then computes `keywords` (cached per theme and language while their
  comments do not change), representative comments and the aggregates.
- `store` keeps the latest report and decides when it is rebuilt (freshness: see there).
- `html`, `markdown` and `pdf` render it (with `wording`, what they all say alike); JSON is the
  stored data itself. `responses` serves it over HTTP, to the API and the organiser pages.

Rules the report follows (also printed in its "method" section):
- themes: every session theme; the figures of a theme add up those of its sessions.
- recommendations are ranked by mean support (-2..+2), then share of positive answers, then
  number of answers; each participant has one answer per recommendation (their latest).
- keywords: YAKE over the newest comments of each theme in each language (comments are in
  their author's language), up to `KEYWORD_TEXT_BUDGET` characters; a keyword is kept only if it
  recurs in at least two comments.
- representative comments: among sampled comments of at least `INFORMATIVE_WORDS` words (or
  any, when none is that long), those whose rating is closest to the theme's mean rating, the
  longest first; at most `REPRESENTATIVE_COMMENTS`, each cut at `QUOTE_MAX` characters.
- who took part: people with a confirmed seat, counted once per theme; any country, city or
  role with fewer than `SMALL_GROUP` people is pooled into "other", so no one stands out.
"""
