# gs-dagster on AWS: storage, job table, notifications, the training image repository and the two
# roles (SageMaker execution, Dagster deployment). See docs/DEPLOYING.md.
terraform {
  required_version = ">= 1.6.0, < 2.0.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.70.0, < 7.0.0"
    }
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = merge(var.tags, { "project" = var.name })
  }
}
