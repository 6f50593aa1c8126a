Feature: Fault switch
  A release demo can make an instance go bad on purpose, and heal it, at runtime.

  Scenario: Touching the fault file fails requests until it is removed
    Given the shop is running with a fault file
    When I get "/health"
    Then the status is 200
    When the fault file is touched
    And I get "/health"
    Then the status is 500
    And the JSON field "error" is "injected fault"
    When the fault file is removed
    And I get "/health"
    Then the status is 200

  Scenario: A fail rate fails that share of requests
    Given the shop is running with a fail rate of 0.25
    When I get "/api/products" 20 times
    Then 5 of them answered 500
    And 15 of them answered 200
