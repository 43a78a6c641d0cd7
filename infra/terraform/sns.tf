# Job notifications (resources/notifier.py): completed and failed jobs.
resource "aws_sns_topic" "jobs" {
  name              = "${var.name}-jobs"
  kms_master_key_id = aws_kms_key.main.arn
}

resource "aws_sns_topic_subscription" "email" {
  count     = var.notification_email == "" ? 0 : 1
  topic_arn = aws_sns_topic.jobs.arn
  protocol  = "email"
  endpoint  = var.notification_email
}
