# The SageMaker execution role: what a training job (the container, and SageMaker on its behalf) may do.
# It reads the media and its job's stage dirs, writes stage outputs, Pipes messages and checkpoints under
# the storage prefix, pulls the one training image, and writes its own log streams. Nothing else.
resource "aws_iam_role" "sagemaker" {
  name                 = "${var.name}-sagemaker"
  description          = "Execution role of ${var.name} training jobs"
  assume_role_policy   = data.aws_iam_policy_document.sagemaker_trust.json
  max_session_duration = 3600
}

data "aws_iam_policy_document" "sagemaker_trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["sagemaker.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = [local.training_job_arn_pattern]
    }
  }
}

resource "aws_iam_role_policy" "sagemaker" {
  name   = "training-job"
  role   = aws_iam_role.sagemaker.id
  policy = data.aws_iam_policy_document.sagemaker.json
}

data "aws_iam_policy_document" "sagemaker" {
  statement {
    sid       = "ListOwnPrefixes"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.data.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.storage_prefix}/*", "${var.media_prefix}/*", "${var.models_prefix}/*"]
    }
  }

  # Model weights the stages load (U^2-Net for segmentation, LPIPS, a vocabulary tree), never written.
  statement {
    sid       = "ReadModelWeights"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.data.arn}/${var.models_prefix}/*"]
  }

  statement {
    sid       = "ReadMedia"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.data.arn}/${var.media_prefix}/*"]
  }

  statement {
    sid       = "ReadWriteStageOutputsPipesAndCheckpoints"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
    resources = ["${aws_s3_bucket.data.arn}/${var.storage_prefix}/*"]
  }

  statement {
    sid       = "UseTheDeploymentKey"
    actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
    resources = [aws_kms_key.main.arn]
  }

  statement {
    sid       = "PullTheTrainingImage"
    actions   = ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"]
    resources = [aws_ecr_repository.trainer.arn]
  }

  statement {
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"] # has no resource-level permissions
    resources = ["*"]
  }

  statement {
    sid       = "WriteOwnLogStreams"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = ["${aws_cloudwatch_log_group.training.arn}:log-stream:${var.job_name_prefix}-*"]
  }

  statement {
    sid       = "TrainingMetrics"
    actions   = ["cloudwatch:PutMetricData"] # has no resource-level permissions: limited by namespace
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = ["/aws/sagemaker/TrainingJobs"]
    }
  }
}
