# The training image (container/Dockerfile). Tags are immutable, so a job that names a tag always runs
# the same image; the Dagster configuration names a tag or a digest, never latest.
resource "aws_ecr_repository" "trainer" {
  name                 = "${var.name}-trainer"
  image_tag_mutability = "IMMUTABLE"

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = aws_kms_key.main.arn
  }
}

resource "aws_ecr_lifecycle_policy" "trainer" {
  repository = aws_ecr_repository.trainer.name
  policy = jsonencode({
    rules = [{
      rulePriority = 1
      description  = "Drop untagged layers left by interrupted pushes"
      selection = {
        tagStatus   = "untagged"
        countType   = "sinceImagePushed"
        countUnit   = "days"
        countNumber = 14
      }
      action = { type = "expire" }
    }]
  })
}
