Feature: Health and build identity
  An operator, and the release engine, can ask any instance which build it runs;
  every response names the build that served it.

  @packaged
  Scenario: Health reports status, version and colour
    Given the shop is running as the green deployment
    When I get "/health"
    Then the status is 200
    And the JSON field "status" is "ok"
    And the JSON field "colour" is "green"
    And the JSON field "version" is the shop's version

  Scenario Outline: Every response names the build that served it
    Given the shop is running as the blue deployment
    When I get "<path>"
    Then the "X-Shop-Colour" header is "blue"
    And the "X-Shop-Version" header is the shop's version

    Examples:
      | path          |
      | /             |
      | /api/products |
      | /no-such-page |
