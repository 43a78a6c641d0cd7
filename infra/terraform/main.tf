data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name

  # SageMaker writes every training job's logs to this group, one stream per job: <job name>/algo-1-...
  training_log_group = "/aws/sagemaker/TrainingJobs"

  # Training jobs are created at run time, so no Terraform resource declares them: this pattern is the
  # only ARN the roles name that is not an attribute of a resource below (tests/aws/test_terraform.py).
  training_job_arn_pattern = "arn:${local.partition}:sagemaker:${local.region}:${local.account_id}:training-job/${var.job_name_prefix}-*"
}

# One customer-managed key for the bucket, table, topic, image repository and training logs.
resource "aws_kms_key" "main" {
  description             = "${var.name}: data bucket, job table, topic, training image and logs"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
}

resource "aws_kms_alias" "main" {
  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.main.key_id
}

data "aws_iam_policy_document" "kms" {
  #checkov:skip=CKV_AWS_109:A key policy's Resource "*" is the key itself; account administration of the key is delegated to IAM.
  #checkov:skip=CKV_AWS_111:A key policy's Resource "*" is the key itself; IAM policies (below) grant use to the two roles only.
  #checkov:skip=CKV_AWS_356:A key policy's Resource "*" is the key itself, not every resource.
  statement {
    sid       = "AccountAdministersTheKeyThroughIAM"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid = "CloudWatchLogsEncryptsTheTrainingLogGroup"
    actions = [
      "kms:Encrypt*",
      "kms:Decrypt*",
      "kms:ReEncrypt*",
      "kms:GenerateDataKey*",
      "kms:Describe*",
    ]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${local.training_log_group}"]
    }
  }
}
