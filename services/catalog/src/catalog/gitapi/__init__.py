"""The Git providers' REST APIs (GitHub, GitLab, Bitbucket): pull requests, comments, commit statuses."""
