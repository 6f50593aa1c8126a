"""boto3 errors as operators read them: the cause and what to set, never a credential. Shared by
the S3 artifact repository and the CloudFormation driver; botocore loads on first call."""

from __future__ import annotations


def boto_errors() -> tuple[type[BaseException], ...]:
    """What boto3 raises for a call that failed (a garbled reply too), never a bug of ours."""
    from botocore.exceptions import BotoCoreError, ClientError
    from botocore.parsers import ResponseParserError

    return (BotoCoreError, ClientError, ResponseParserError)


def why(error: BaseException, region_key: str = "region") -> str:
    from botocore.exceptions import ClientError, NoCredentialsError, NoRegionError

    if isinstance(error, NoCredentialsError):
        return "no AWS credentials (set AWS_PROFILE or AWS_ACCESS_KEY_ID, or use a role)"
    if isinstance(error, NoRegionError):
        return f"no AWS region (set {region_key} or AWS_DEFAULT_REGION)"
    if isinstance(error, ClientError):
        info = error.response.get("Error", {})
        return f"{info.get('Code', '?')}: {info.get('Message', '')}".rstrip(": ")
    return f"{type(error).__name__}: {error}"
