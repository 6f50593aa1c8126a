Feature: Storefront page
  The storefront page and its static files are served, and nothing else on disk is.

  Background:
    Given the shop is running

  @packaged
  Scenario: The home page
    When I get "/"
    Then the status is 200
    And the "Content-Type" header is "text/html; charset=utf-8"
    And the body contains "<title>shop</title>"

  Scenario Outline: Static files are served with their types
    When I get "/static/<name>"
    Then the status is 200
    And the "Content-Type" header is "<type>"

    Examples:
      | name      | type                            |
      | style.css | text/css; charset=utf-8         |
      | app.js    | text/javascript; charset=utf-8  |

  Scenario Outline: Paths outside the static folder are refused
    When I get "<path>"
    Then the status is 404

    Examples:
      | path                      |
      | /static/..%2f__init__.py  |
      | /static/%2e%2e/db.py      |
      | /static/missing.css       |
