variable "name" {
  description = "Prefix of every resource name (letters, digits, hyphens)."
  type        = string
  default     = "gs-dagster"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}$", var.name))
    error_message = "name: 2-31 lower-case letters, digits or hyphens, starting with a letter."
  }
}

variable "region" {
  description = "AWS region of the deployment."
  type        = string
  default     = "us-east-1"
}

variable "tags" {
  description = "Extra tags on every resource."
  type        = map(string)
  default     = {}
}

variable "notification_email" {
  description = "Email address subscribed to job notifications (empty: no subscription)."
  type        = string
  default     = ""
}

variable "storage_prefix" {
  description = "Key prefix of the stage outputs (<prefix>/<stage>/<uuid>/), Pipes messages and checkpoints."
  type        = string
  default     = "gs-storage"
}

variable "models_prefix" {
  description = "Key prefix of the model weights the stages read (segmentation_weights, lpips_weights, vocab_tree_path)."
  type        = string
  default     = "models"
}

variable "media_prefix" {
  description = "Key prefix users upload media to (the job JSON's s3.inputPrefix)."
  type        = string
  default     = "media-input"
}

variable "job_input_prefix" {
  description = "Key prefix users upload job JSON documents to."
  type        = string
  default     = "workflow-input"
}

variable "job_output_prefix" {
  description = "Key prefix of delivered results (the job JSON's s3.outputPrefix)."
  type        = string
  default     = "workflow-output"
}

variable "job_name_prefix" {
  description = "SageMaker training job names start with <job_name_prefix>-; the Dagster role may create no others."
  type        = string
  default     = "gs"

  validation {
    condition     = can(regex("^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,9}$", var.job_name_prefix))
    error_message = "job_name_prefix: 1-10 letters, digits or single hyphens."
  }
}

variable "instance_types" {
  description = "Training instance types the Dagster role may request (the job spec's instanceType allow-list)."
  type        = list(string)
  default     = ["ml.g5.4xlarge", "ml.g5.8xlarge", "ml.g5.12xlarge", "ml.g6e.4xlarge", "ml.g6e.8xlarge"]
}

variable "image_tag" {
  description = "Tag of the training image in the ECR repository that jobs run (an explicit version, never latest)."
  type        = string
  default     = "0.1.0"

  validation {
    condition     = var.image_tag != "latest" && can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.image_tag))
    error_message = "image_tag must be an explicit version tag; latest is refused (tags are immutable here)."
  }
}

variable "dagster_trusted_principal_arns" {
  description = "IAM principals (the Dagster host's instance role, ECS task role, or an SSO role) that may assume the Dagster role."
  type        = list(string)

  validation {
    condition     = length(var.dagster_trusted_principal_arns) > 0
    error_message = "name at least one principal that runs Dagster."
  }
}

variable "scratch_expiration_days" {
  description = "Days before Pipes message chunks, training checkpoints and SageMaker's own output objects expire."
  type        = number
  default     = 30
}

variable "noncurrent_version_expiration_days" {
  description = "Days a replaced or deleted object version is kept (versioning protects against mistakes)."
  type        = number
  default     = 90
}

variable "access_log_retention_days" {
  description = "Days S3 access logs are kept."
  type        = number
  default     = 365
}

variable "log_retention_days" {
  description = "Days the training jobs' CloudWatch logs are kept."
  type        = number
  default     = 365
}
