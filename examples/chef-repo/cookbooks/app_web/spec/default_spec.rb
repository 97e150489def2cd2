require 'chefspec'

describe 'app_web::default' do
  it 'converges' do
    expect { ChefSpec::SoloRunner.new.converge(described_recipe) }.not_to raise_error
  end
end
