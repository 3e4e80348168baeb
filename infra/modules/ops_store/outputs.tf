output "bucket" {
  description = "The bucket holding the operations lock (lock.json) and journal (journal.jsonl) under the environment's prefix."
  value       = aws_s3_bucket.ops.id
}

output "aws_region" {
  description = "The bucket's region."
  value       = data.aws_region.current.name
}

output "bucket_arn" {
  description = "The bucket's ARN (for operators' IAM policies)."
  value       = aws_s3_bucket.ops.arn
}
