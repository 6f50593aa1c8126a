@socket
Feature: Concurrent clients
  A burst of concurrent clients is served without connection drops (the listen backlog is
  raised above Python's default of 5).

  Scenario: A burst of concurrent requests all succeed
    Given the shop is running
    When 48 clients each get "/static/style.css" twice at once
    Then all of them answered 200
