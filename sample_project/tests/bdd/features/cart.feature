Feature: Shopping cart
  The storefront adds products to a cart the page names; the shop counts what is in it.

  Background:
    Given the shop is running

  @packaged
  Scenario: Adding a product twice counts it twice
    When I add product 2 to cart "c-1"
    And I add product 2 to cart "c-1"
    And I add product 1 to cart "c-1"
    Then the status is 200
    And cart "c-1" holds 3 items
    And cart "c-2" holds 0 items

  Scenario: A product out of stock cannot be added
    When I add product 5 to cart "c-1"
    Then the status is 409
    And the JSON field "error" is "Brass spoon is out of stock"
    And cart "c-1" holds 0 items

  Scenario: An unknown product cannot be added
    When I add product 99 to cart "c-1"
    Then the status is 404

  Scenario: Adding needs a POST
    When I get "/api/carts/c-1/items/2"
    Then the status is 405
    And the "Allow" header is "POST"
