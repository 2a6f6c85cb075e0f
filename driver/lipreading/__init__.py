"""Learn2Talk's second expert: a visual lip reader that knows only pixels (issue 15).

Mouth crops of renders (`mouth_view`) are read by a small CTC network (`model`) into phones
and visemes (`visemes`, the one grouping); `crops` renders and caches its training data from
the corpus's ground-truth motion under varied viewing conditions, `train` trains it, and
`perception` scores any motion by what the reader recognises in its renders (PER / VER).
"""
