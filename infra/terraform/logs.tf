# SageMaker writes every training job's stdout/stderr here (one stream per job) for humans to read;
# Dagster never polls it (the container forwards its output through the Pipes messages in S3).
# The group is per account and region: if it exists already, import it before applying:
#   terraform import aws_cloudwatch_log_group.training /aws/sagemaker/TrainingJobs
resource "aws_cloudwatch_log_group" "training" {
  name              = local.training_log_group
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}
