"""Package stage: MKV master, MP4 access copy, provenance, BagIt package and the catalog.

Modules, in the order the stage uses them:
`inputs` gathers what fetch and subtitles recorded (and fingerprints it), `chapters` writes the
ffmetadata file (global tags + chapters), `mux` builds the ffmpeg argument lists with
ffmpeg-python, `probe` checks every muxed file against what was intended, `provenance` writes
the JSON-LD record and the schema.org VideoObject, `bag` builds and versions the BagIt package,
`publishing` swaps it into place crash-safely (with a journal), `record` describes the
current package (the state record is the authority; it adopts a package a killed run left
unrecorded), `catalog` rebuilds `output/catalog.json`, and `stage.PACKAGE` ties them together.
"""
