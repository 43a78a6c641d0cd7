# What the Dagster deployment needs (docs/DEPLOYING.md: `terraform output -json dagster_env`).
output "bucket" {
  value = aws_s3_bucket.data.id
}

output "storage_root" {
  description = "StorageResource root of the <root>/<stage>/<uuid>/ layout"
  value       = "s3://${aws_s3_bucket.data.id}/${var.storage_prefix}"
}

output "models_root" {
  description = "Where to put model weights the SageMaker role may read, e.g. <models_root>/u2net/u2net.onnx"
  value       = "s3://${aws_s3_bucket.data.id}/${var.models_prefix}"
}

output "job_table_url" {
  value = "dynamodb://${aws_dynamodb_table.jobs.name}"
}

output "topic_arn" {
  value = aws_sns_topic.jobs.arn
}

output "ecr_repository_url" {
  value = aws_ecr_repository.trainer.repository_url
}

output "image_uri" {
  description = "The training image by explicit tag (push it with that tag; tags are immutable)"
  value       = "${aws_ecr_repository.trainer.repository_url}:${var.image_tag}"
}

output "sagemaker_role_arn" {
  value = aws_iam_role.sagemaker.arn
}

output "dagster_role_arn" {
  value = aws_iam_role.dagster.arn
}

output "kms_key_arn" {
  value = aws_kms_key.main.arn
}

output "dagster_env" {
  description = "Environment of the Dagster deployment (gs_dagster/config.py and resources/sagemaker.py read these names)"
  value = {
    AWS_REGION                   = local.region
    GS_BUCKET                    = "s3://${aws_s3_bucket.data.id}"
    GS_STORAGE_ROOT              = "s3://${aws_s3_bucket.data.id}/${var.storage_prefix}"
    GS_JOB_TABLE                 = "dynamodb://${aws_dynamodb_table.jobs.name}"
    GS_NOTIFIER                  = aws_sns_topic.jobs.arn
    GS_INTAKE_PREFIX             = var.job_input_prefix
    GS_MEDIA_PREFIXES            = var.media_prefix
    GS_OUTPUT_PREFIXES           = var.job_output_prefix
    GS_INSTANCE_TYPES            = join(",", var.instance_types)
    GS_LAUNCHER                  = "sagemaker"
    GS_SAGEMAKER_IMAGE_URI       = "${aws_ecr_repository.trainer.repository_url}:${var.image_tag}"
    GS_SAGEMAKER_ROLE_ARN        = aws_iam_role.sagemaker.arn
    GS_SAGEMAKER_KMS_KEY_ID      = aws_kms_key.main.arn
    GS_SAGEMAKER_JOB_NAME_PREFIX = var.job_name_prefix
  }
}
