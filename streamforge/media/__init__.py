"""The media pipeline: probe, ladder, transcode, package, thumbnails.

It knows nothing of HTTP, the database or plugins. It takes plain data (``types``) and
works on local paths; untrusted media is only ever opened inside a sandboxed child
process (``sandbox``).
"""
