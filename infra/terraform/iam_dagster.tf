# The Dagster deployment role: create, watch and stop training jobs named <job_name_prefix>-* on the
# allowed instance types, pass only the SageMaker role, and use this deployment's bucket prefixes, job
# table, topic and key. It never reads CloudWatch logs.
resource "aws_iam_role" "dagster" {
  name                 = "${var.name}-dagster"
  description          = "Role the ${var.name} Dagster deployment (webserver, daemon, runs) assumes"
  assume_role_policy   = data.aws_iam_policy_document.dagster_trust.json
  max_session_duration = 3600
}

data "aws_iam_policy_document" "dagster_trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "AWS"
      identifiers = var.dagster_trusted_principal_arns
    }
  }
}

resource "aws_iam_role_policy" "dagster" {
  name   = "dagster-deployment"
  role   = aws_iam_role.dagster.id
  policy = data.aws_iam_policy_document.dagster.json
}

data "aws_iam_policy_document" "dagster" {
  statement {
    sid       = "CreateTrainingJobsOnAllowedInstances"
    actions   = ["sagemaker:CreateTrainingJob"]
    resources = [local.training_job_arn_pattern]
    condition {
      test     = "ForAllValues:StringEquals"
      variable = "sagemaker:InstanceTypes"
      values   = var.instance_types
    }
    condition {
      test     = "StringEquals"
      variable = "sagemaker:OutputKmsKey"
      values   = [aws_kms_key.main.arn]
    }
  }

  statement {
    sid       = "TagWatchAndStopTrainingJobs"
    actions   = ["sagemaker:AddTags", "sagemaker:DescribeTrainingJob", "sagemaker:ListTags", "sagemaker:StopTrainingJob"]
    resources = [local.training_job_arn_pattern]
  }

  # The orphaned-job sensor (gs_dagster/sensors/orphan_jobs.py) lists InProgress jobs by name prefix.
  # ListTrainingJobs has no resource-level permissions: "*" is the only resource it accepts.
  statement {
    sid       = "ListTrainingJobsForTheOrphanSweeper"
    actions   = ["sagemaker:ListTrainingJobs"]
    resources = ["*"]
  }

  statement {
    sid       = "PassOnlyTheSageMakerRole"
    actions   = ["iam:PassRole"]
    resources = [aws_iam_role.sagemaker.arn]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["sagemaker.amazonaws.com"]
    }
  }

  # Listing is granted per prefix only. A HEAD request carries no s3:prefix, so S3 answers a HEAD of a
  # missing key with 403 instead of 404 under this condition: the code (resources/storage.py S3Store.head)
  # settles a 403 by listing the key itself as the prefix, which this statement allows. Jobs may name only
  # these media and output prefixes (GS_MEDIA_PREFIXES, GS_OUTPUT_PREFIXES in outputs.tf), checked at submit
  # and intake, so a run never reaches a prefix the roles cannot use.
  statement {
    sid       = "ListDeploymentPrefixes"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.data.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values = [
        "${var.storage_prefix}/*",
        "${var.media_prefix}/*",
        "${var.job_input_prefix}/*",
        "${var.job_output_prefix}/*",
      ]
    }
  }

  statement {
    sid     = "ReadUploads"
    actions = ["s3:GetObject"]
    resources = [
      "${aws_s3_bucket.data.arn}/${var.media_prefix}/*",
      "${aws_s3_bucket.data.arn}/${var.job_input_prefix}/*",
    ]
  }

  statement {
    sid     = "ReadWriteStageOutputsAndDeliveries"
    actions = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
    resources = [
      "${aws_s3_bucket.data.arn}/${var.storage_prefix}/*",
      "${aws_s3_bucket.data.arn}/${var.job_output_prefix}/*",
    ]
  }

  statement {
    sid = "JobTable"
    actions = [
      "dynamodb:DescribeTable",
      "dynamodb:GetItem",
      "dynamodb:BatchGetItem",
      "dynamodb:PutItem",
      "dynamodb:UpdateItem",
      "dynamodb:Scan",
      "dynamodb:Query",
    ]
    resources = [aws_dynamodb_table.jobs.arn]
  }

  statement {
    sid       = "Notify"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.jobs.arn]
  }

  statement {
    sid       = "UseTheDeploymentKey"
    actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
    resources = [aws_kms_key.main.arn]
  }
}
