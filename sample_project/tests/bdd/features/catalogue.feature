Feature: Product catalogue
  Customers browse the catalogue through the JSON API.

  Background:
    Given the shop is running

  @packaged
  Scenario: Listing products
    When I get "/api/products"
    Then the status is 200
    And the "Content-Type" header is "application/json"
    And 5 products are listed
    And the product names include "Enamel mug"

  Scenario Outline: One product by id
    When I get "/api/products/<id>"
    Then the status is 200
    And the JSON field "sku" is "<sku>"
    And the JSON field "price" is "<price>"
    And the JSON field "in_stock" is <in_stock>

    Examples:
      | id | sku     | price | in_stock |
      | 1  | TEA-001 | 6.50  | true     |
      | 2  | MUG-002 | 12.00 | true     |
      | 5  | SPN-005 | 4.50  | false    |

  Scenario Outline: Unknown products are not found
    When I get "<path>"
    Then the status is 404

    Examples:
      | path              |
      | /api/products/404 |
      | /api/products/mug |
