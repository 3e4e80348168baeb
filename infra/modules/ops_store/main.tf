# The operations lock and journal two operators share (pmctl's `aws` environment,
# cli/src/aws/store.rs): `<prefix>/lock.json` is created with `PutObject If-None-Match: *`
# and renewed/released with `If-Match: <ETag>`; `<prefix>/journal.jsonl` is appended with
# the same compare-and-swap, so `pmctl <op> --resume` works from any operator's machine.
# Versioned, so an overwritten journal can always be recovered.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

resource "aws_kms_key" "ops" {
  description             = "${var.name}: pmctl operations lock and journal"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministers"
        Effect    = "Allow"
        Principal = { AWS = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
    ]
  })
  tags = var.tags
}

resource "aws_kms_alias" "ops" {
  name          = "alias/${var.name}-ops"
  target_key_id = aws_kms_key.ops.key_id
}

resource "aws_s3_bucket" "ops" {
  #checkov:skip=CKV_AWS_18:A few small objects written by operators' pmctl; CloudTrail data events are the audit trail, and the journal itself records every operation.
  #checkov:skip=CKV_AWS_144:The lock must be one object in one place (two replicas could both be "held"); losing the bucket's region loses only the lock, and pmctl refuses operations until the store answers again.
  #checkov:skip=CKV2_AWS_62:Nothing consumes new-object events: pmctl reads the lock and journal on demand.
  # Bucket names are global: the account id keeps them unique.
  bucket = "${var.name}-ops-${data.aws_caller_identity.current.account_id}"
  tags   = var.tags
}

resource "aws_s3_bucket_ownership_controls" "ops" {
  bucket = aws_s3_bucket.ops.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "ops" {
  bucket                  = aws_s3_bucket.ops.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "ops" {
  bucket = aws_s3_bucket.ops.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "ops" {
  bucket = aws_s3_bucket.ops.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.ops.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "ops" {
  bucket = aws_s3_bucket.ops.id

  rule {
    id     = "old-versions"
    status = "Enabled"
    filter {}

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  depends_on = [aws_s3_bucket_versioning.ops]
}

resource "aws_s3_bucket_policy" "ops" {
  bucket = aws_s3_bucket.ops.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "TlsOnly"
        Effect    = "Deny"
        Principal = "*"
        Action    = "s3:*"
        Resource  = [aws_s3_bucket.ops.arn, "${aws_s3_bucket.ops.arn}/*"]
        Condition = { Bool = { "aws:SecureTransport" = "false" } }
      },
    ]
  })

  depends_on = [aws_s3_bucket_public_access_block.ops]
}
