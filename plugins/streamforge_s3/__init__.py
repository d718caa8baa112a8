"""S3-compatible storage (MinIO, AWS S3, Cloudflare R2) — being written."""
